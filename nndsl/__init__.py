from .runtime import __version__  # one version: nndsl and the runtime it copies into projects

__all__ = ["__version__"]
