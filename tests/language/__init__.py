"""Tests of the policy language: grammar, parser, checker, compiler, decompiler, formatter."""
