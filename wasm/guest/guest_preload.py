# ruff: noqa: F401
"""Stdlib modules that glue code reaches for, imported at build time.

componentize-py snapshots the interpreter after this module runs, and only
modules imported by then exist at run time: this list *is* the guest's
stdlib. Importing costs nothing at instantiation (it is in the snapshot).
"""

import abc
import array
import ast
import asyncio
import base64
import binascii
import bisect
import calendar
import collections
import collections.abc
import colorsys
import contextlib
import contextvars
import copy
import csv
import dataclasses
import datetime
import decimal
import difflib
import email.utils
import encodings.ascii
import encodings.base64_codec
import encodings.cp437
import encodings.cp1252
import encodings.hex_codec
import encodings.idna
import encodings.iso8859_15
import encodings.latin_1
import encodings.punycode
import encodings.raw_unicode_escape
import encodings.unicode_escape
import encodings.utf_8_sig
import encodings.utf_16
import encodings.utf_32
import enum
import fractions
import functools
import gc
import graphlib
import gzip
import hashlib
import heapq
import hmac
import html
import html.parser
import inspect
import io
import ipaddress
import itertools
import json
import keyword
import math
import numbers
import operator
import pprint
import random
import re
import secrets
import shlex
import statistics
import string
import struct
import textwrap
import time
import tomllib
import traceback
import types
import typing
import unicodedata
import urllib.parse
import uuid
import weakref
import xml.etree.ElementTree
import zlib

import guest_zoneinfo  # zoneinfo with bundled tz data, offline

# Everything above is in the snapshot every instance shares copy-on-write:
# keep the cyclic GC from walking (and so dirtying) those pages in each run.
gc.freeze()
