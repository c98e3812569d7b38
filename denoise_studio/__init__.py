"""Denoise Studio: an interactive image-denoising workbench."""

__version__ = "0.1.0"
