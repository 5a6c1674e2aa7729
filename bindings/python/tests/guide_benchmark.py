#!/usr/bin/env python3
"""
Performance testing script for tokenizer adapters.
"""

import time
import statistics
from kano_tokenizer import get_default_registry

def benchmark_adapter(adapter_name, model_name, text, iterations=10):
    """Benchmark a specific adapter."""
    registry = get_default_registry()
    
    try:
        adapter = registry.resolve(adapter_name, model_name=model_name)
        
        # Warmup
        adapter.count_tokens("warmup")
        
        # Benchmark
        times = []
        token_counts = []
        
        for _ in range(iterations):
            start = time.perf_counter()
            result = adapter.count_tokens(text)
            end = time.perf_counter()
            
            times.append((end - start) * 1000)  # Convert to ms
            token_counts.append(result.count)
        
        return {
            'adapter': adapter_name,
            'avg_time_ms': statistics.mean(times),
            'median_time_ms': statistics.median(times),
            'min_time_ms': min(times),
            'max_time_ms': max(times),
            'std_time_ms': statistics.stdev(times) if len(times) > 1 else 0,
            'avg_tokens': statistics.mean(token_counts),
            'consistent': len(set(token_counts)) == 1,
            'is_exact': result.is_exact,
            'success': True
        }
    except Exception as e:
        return {
            'adapter': adapter_name,
            'success': False,
            'error': str(e)
        }

def main():
    # Test configuration
    test_text = "Your typical document content here. " * 50  # Adjust size
    model_name = "gpt-4"  # Adjust for your use case
    adapters = ["heuristic", "tiktoken", "huggingface"]
    iterations = 20
    
    print(f"Benchmarking tokenizer adapters")
    print(f"Text length: {len(test_text)} characters")
    print(f"Iterations: {iterations}")
    print(f"Model: {model_name}")
    print("-" * 60)
    
    results = []
    for adapter in adapters:
        print(f"Testing {adapter}...")
        result = benchmark_adapter(adapter, model_name, test_text, iterations)
        results.append(result)
        
        if result['success']:
            print(f"  Average: {result['avg_time_ms']:.2f}ms")
            print(f"  Range: {result['min_time_ms']:.2f}-{result['max_time_ms']:.2f}ms")
            print(f"  Tokens: {result['avg_tokens']:.0f}")
            print(f"  Exact: {result['is_exact']}")
            print(f"  Consistent: {result['consistent']}")
        else:
            print(f"  Failed: {result['error']}")
        print()
    
    # Performance ranking
    successful = [r for r in results if r['success']]
    if successful:
        print("Performance Ranking (by speed):")
        by_speed = sorted(successful, key=lambda x: x['avg_time_ms'])
        for i, result in enumerate(by_speed, 1):
            print(f"{i}. {result['adapter']}: {result['avg_time_ms']:.2f}ms")

if __name__ == "__main__":
    main()
