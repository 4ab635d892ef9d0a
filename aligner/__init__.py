"""aligner: find when the narration of instructional videos is actually shown."""

__version__ = "0.1.0"
