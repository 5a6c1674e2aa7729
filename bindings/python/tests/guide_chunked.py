def process_large_document_chunked(file_path, chunk_size=10000):
    """Process large documents in chunks to limit memory usage."""
    from kano_tokenizer import get_default_registry
    
    registry = get_default_registry()
    adapter = registry.resolve("heuristic", model_name="default")
    
    total_tokens = 0
    with open(file_path, 'r') as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                break
            
            result = adapter.count_tokens(chunk)
            total_tokens += result.count
    
    return total_tokens
