"""`pullfix.imageref`: the public name of the image-reference parser in `pullfix.core`."""

from pullfix.core.imageref import ImageRef, InvalidReference, parse_image

__all__ = ["ImageRef", "InvalidReference", "parse_image"]
