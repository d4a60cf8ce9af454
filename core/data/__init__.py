"""Data files shipped with core: the common passwords the password policy refuses."""
