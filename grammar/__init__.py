"""The initdsl policy grammar (``initdsl.lark``), shipped as package data."""
