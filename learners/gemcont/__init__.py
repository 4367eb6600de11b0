"""GEMCONT: genetics-supervised multimodal contrastive learning of phenotype embeddings."""
