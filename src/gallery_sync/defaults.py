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

# The Huawei Cloud regions where ModelArts and AI Gallery run, as region ids. `apps add`
# refuses any other (a typo would register an application no version could ever find),
# unless `--new-region` says the region is newer than this list.
KNOWN_REGIONS = (
    "af-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "cn-east-2",
    "cn-east-3",
    "cn-north-1",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-south-1",
    "cn-southwest-2",
    "la-north-2",
    "la-south-2",
    "me-east-1",
    "na-mexico-1",
    "ru-northwest-2",
    "sa-brazil-1",
    "tr-west-1",
)
