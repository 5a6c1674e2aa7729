import time
import json
from datetime import datetime
from kano_tokenizer import get_default_registry

class TokenizerMonitor:
    def __init__(self):
        self.metrics = []
    
    def time_tokenization(self, adapter_name, model_name, text):
        """Time a tokenization operation and record metrics."""
        registry = get_default_registry()
        adapter = registry.resolve(adapter_name, model_name=model_name)
        
        start_time = time.perf_counter()
        result = adapter.count_tokens(text)
        end_time = time.perf_counter()
        
        metric = {
            'timestamp': datetime.now().isoformat(),
            'adapter': adapter_name,
            'model': model_name,
            'text_length': len(text),
            'token_count': result.count,
            'duration_ms': (end_time - start_time) * 1000,
            'is_exact': result.is_exact
        }
        
        self.metrics.append(metric)
        return result
    
    def get_performance_summary(self):
        """Get performance summary statistics."""
        if not self.metrics:
            return {}
        
        by_adapter = {}
        for metric in self.metrics:
            adapter = metric['adapter']
            if adapter not in by_adapter:
                by_adapter[adapter] = []
            by_adapter[adapter].append(metric['duration_ms'])
        
        summary = {}
        for adapter, times in by_adapter.items():
            summary[adapter] = {
                'count': len(times),
                'avg_time_ms': sum(times) / len(times),
                'min_time_ms': min(times),
                'max_time_ms': max(times)
            }
        
        return summary
    
    def save_metrics(self, filename):
        """Save metrics to file."""
        with open(filename, 'w') as f:
            json.dump(self.metrics, f, indent=2)

# Usage
monitor = TokenizerMonitor()
monitor.time_tokenization("tiktoken", "gpt-4", "Sample text")
print(monitor.get_performance_summary())
