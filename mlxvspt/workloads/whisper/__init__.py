"""Whisper speech-to-text: openai-whisper (PyTorch) vs mlx-whisper (MLX) on the same weights and audio."""
