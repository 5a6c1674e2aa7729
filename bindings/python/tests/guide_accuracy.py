def validate_tokenization_accuracy(text, model_name):
    """Validate tokenization accuracy across adapters."""
    from kano_tokenizer import get_default_registry
    
    registry = get_default_registry()
    results = {}
    
    # Test available adapters
    for adapter_name in ["tiktoken", "huggingface", "heuristic"]:
        try:
            adapter = registry.resolve(adapter_name, model_name=model_name)
            result = adapter.count_tokens(text)
            results[adapter_name] = {
                'count': result.count,
                'is_exact': result.is_exact,
                'method': result.method
            }
        except:
            continue
    
    # Compare results
    exact_results = {k: v for k, v in results.items() if v['is_exact']}
    if len(exact_results) > 1:
        counts = [v['count'] for v in exact_results.values()]
        if len(set(counts)) > 1:
            print(f"Warning: Exact adapters disagree on token count: {exact_results}")
    
    return results
