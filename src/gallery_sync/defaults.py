"""What a new gallery starts with: the default taxonomy of categories and the agreements.

The embedded gallery is created with these; `validate` checks categories against them offline
(a gallery's own taxonomy still decides at plan).
"""

from __future__ import annotations

DEFAULT_CATEGORIES = [
    "computer-vision",
    "natural-language-processing",
    "speech",
    "multimodal",
    "recommendation",
    "time-series",
    "scientific-computing",
    "image-classification",
    "object-detection",
    "image-segmentation",
    "ocr",
    "text-classification",
    "text-generation",
    "translation",
    "question-answering",
    "speech-recognition",
    "text-to-speech",
    "other",
]
DEFAULT_AGREEMENTS = {
    "digital-content-publishing": "Digital Content Publishing Agreement",
    "ai-gallery-service": "AI Gallery Service Agreement",
}
