"""Stdlib modules that glue code reaches for, imported at build time.

componentize-py snapshots the interpreter after this module runs, and only
modules imported by then exist at run time: this list *is* the guest's
stdlib. Importing costs nothing at instantiation (it is in the snapshot).
"""

import abc  # noqa: F401
import array  # noqa: F401
import ast  # noqa: F401
import asyncio  # noqa: F401
import base64  # noqa: F401
import binascii  # noqa: F401
import bisect  # noqa: F401
import calendar  # noqa: F401
import collections  # noqa: F401
import collections.abc  # noqa: F401
import colorsys  # noqa: F401
import contextlib  # noqa: F401
import contextvars  # noqa: F401
import copy  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import difflib  # noqa: F401
import email.utils  # noqa: F401
import encodings.ascii  # noqa: F401
import encodings.base64_codec  # noqa: F401
import encodings.cp1252  # noqa: F401
import encodings.cp437  # noqa: F401
import encodings.hex_codec  # noqa: F401
import encodings.idna  # noqa: F401
import encodings.iso8859_15  # noqa: F401
import encodings.latin_1  # noqa: F401
import encodings.punycode  # noqa: F401
import encodings.raw_unicode_escape  # noqa: F401
import encodings.unicode_escape  # noqa: F401
import encodings.utf_16  # noqa: F401
import encodings.utf_32  # noqa: F401
import encodings.utf_8_sig  # noqa: F401
import enum  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import graphlib  # noqa: F401
import gzip  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import hmac  # noqa: F401
import html  # noqa: F401
import html.parser  # noqa: F401
import inspect  # noqa: F401
import io  # noqa: F401
import ipaddress  # noqa: F401
import itertools  # noqa: F401
import json  # noqa: F401
import keyword  # noqa: F401
import math  # noqa: F401
import numbers  # noqa: F401
import operator  # noqa: F401
import pprint  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import secrets  # noqa: F401
import shlex  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import textwrap  # noqa: F401
import time  # noqa: F401
import tomllib  # noqa: F401
import traceback  # noqa: F401
import types  # noqa: F401
import typing  # noqa: F401
import unicodedata  # noqa: F401
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
import weakref  # noqa: F401
import xml.etree.ElementTree  # noqa: F401
import zlib  # noqa: F401

import guest_zoneinfo  # noqa: F401  (zoneinfo with bundled tz data, offline)
