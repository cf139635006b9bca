"""Loading gallery.yaml: YAML with positions, schema check, files, merged into one Config."""

from gallery_sync.config.loader import Config, load_config

__all__ = ["Config", "load_config"]
