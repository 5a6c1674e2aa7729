# Multi-process tokenization
from multiprocessing import Pool
from kano_tokenizer import get_default_registry

def tokenize_document(doc_text):
    """Tokenize a single document (for multiprocessing)."""
    registry = get_default_registry()
    adapter = registry.resolve("tiktoken", model_name="gpt-4")
    return adapter.count_tokens(doc_text)

def process_documents_parallel(documents, num_processes=4):
    """Process documents in parallel."""
    with Pool(num_processes) as pool:
        results = pool.map(tokenize_document, documents)
    return results

# Usage
documents = ["doc1", "doc2", "doc3"]  # Your documents
results = process_documents_parallel(documents)
