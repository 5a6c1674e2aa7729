# Round-robin adapter selection for load balancing
class LoadBalancedTokenizer:
    def __init__(self):
        from kano_tokenizer import get_default_registry
        self.registry = get_default_registry()
        self.adapters = ["tiktoken", "heuristic"]  # Available adapters
        self.current = 0
    
    def count_tokens(self, text, model_name="gpt-4"):
        """Count tokens with load balancing."""
        adapter_name = self.adapters[self.current]
        self.current = (self.current + 1) % len(self.adapters)
        
        try:
            adapter = self.registry.resolve(adapter_name, model_name=model_name)
            return adapter.count_tokens(text)
        except:
            # Fallback to heuristic
            adapter = self.registry.resolve("heuristic", model_name=model_name)
            return adapter.count_tokens(text)
