from setuptools import setup

setup(cffi_modules=["harness/native/build.py:ffibuilder"])
