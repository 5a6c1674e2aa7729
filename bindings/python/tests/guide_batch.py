def process_documents_batch(documents, adapter):
    """Process multiple documents efficiently."""
    # Pre-warm adapter
    adapter.count_tokens("warmup")
    
    results = []
    for doc in documents:
        # Process without re-initializing adapter
        result = adapter.count_tokens(doc)
        results.append(result)
    
    return results

# Usage
from kano_tokenizer import get_default_registry

registry = get_default_registry()
adapter = registry.resolve("heuristic", model_name="default")

# Process batch
documents = ["doc1", "doc2", "doc3"]  # Your documents
results = process_documents_batch(documents, adapter)
