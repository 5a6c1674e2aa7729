# Initialize adapters at startup
class TokenizerService:
    def __init__(self):
        from kano_tokenizer import get_default_registry
        self.registry = get_default_registry()
        
        # Pre-initialize common adapters
        self.heuristic = self.registry.resolve("heuristic", model_name="default")
        self.tiktoken = None
        
        try:
            self.tiktoken = self.registry.resolve("tiktoken", model_name="gpt-4")
        except:
            pass  # TikToken not available
    
    def count_tokens(self, text, prefer_exact=False):
        """Count tokens with pre-initialized adapters."""
        if prefer_exact and self.tiktoken:
            return self.tiktoken.count_tokens(text)
        else:
            return self.heuristic.count_tokens(text)

# Initialize once at startup
tokenizer_service = TokenizerService()
