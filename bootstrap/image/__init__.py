"""Container images of a built root: OCI image layouts (directory or oci-archive) and docker
archives, one or several platforms, split into layers by package, with files attached as OCI
artifacts. Family-neutral: packages are only names owning paths here.

- `spec`: the data (Platform, ImageSpec, Attachment, Descriptor, tags, `with_env`);
- `layers`: `split_layers`, a root into at most N layers by package (apko's layering);
- `layout`: `LayoutWriter`, the one writer of image layouts (pack.oci's `write_oci` too).
"""
from __future__ import annotations

from bootstrap.image.layers import Layer, split_layers
from bootstrap.image.layout import FORMATS, LayoutWriter
from bootstrap.image.spec import DEFAULT_PATH, Attachment, Descriptor, ImageSpec, Platform, Tag, parse_tag, with_env

__all__ = ["DEFAULT_PATH", "FORMATS", "Attachment", "Descriptor", "ImageSpec", "Layer", "LayoutWriter", "Platform",
           "Tag", "parse_tag", "split_layers", "with_env"]
