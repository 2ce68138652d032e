"""mlxvspt: MLX vs PyTorch on the same work, tracked across releases with asv."""
