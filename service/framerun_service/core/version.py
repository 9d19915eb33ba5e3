"""Engine version: part of every plan hash, so mixed builds never share chunks."""

ENGINE_VERSION = "0.1.0"
