"""Filesystem: read, write and path tricks against a canary on the host.

The host's working directory is the canary's directory, so a leaked preopen
of ``.`` would expose it; ``$MODULE.py`` there holds a secret an import would reveal.
"""

from __future__ import annotations

from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("filesystem", "fs")

ATTACKS = [
    A("read-absolute", "read the canary file by its absolute path", "open($CANARY).read()", expect=Expect.FAILS),
    A("read-relative", "read the canary through the host's working directory", "open('canary.txt').read()"),
    A("read-dotdot", "climb out of any root with ../ to the canary", "open($REL).read()"),
    A(
        "read-path-noise",
        "reach the canary through a non-normalised path (//, /./, trailing /.)",
        "p = $CANARY\nfor v in ('/' + p, p.replace('/', '/./'), p.replace('/', '//'), p + '/.'):\n"
        "    try:\n        print(open(v).read())\n    except OSError:\n        pass",
    ),
    A("read-nul-suffix", "truncate the path at a NUL byte", "open($CANARY + '\\x00.png').read()"),
    A(
        "read-os-open",
        "read at the descriptor level (os.open, os.read)",
        "import os\nos.read(os.open($CANARY, os.O_RDONLY), 4096)",
    ),
    A("read-io-fileio", "open the canary read-write as raw io.FileIO", "import io\nio.FileIO($CANARY, 'r+').read()"),
    A(
        "read-guessed-fds",
        "read descriptors a leaked preopen or inherited file would have (3..63)",
        "import os\nfound = []\nfor fd in range(3, 64):\n    try:\n        found.append(os.read(fd, 4096))\n"
        "    except OSError:\n        pass\nfound",
        returns=[],
    ),
    A(
        "list-guessed-fds",
        "list directories through guessed descriptors (os.listdir(fd), os.scandir(fd))",
        "import os\nfound = []\nfor fd in range(0, 64):\n    try:\n        found.append(os.listdir(fd))\n"
        "    except (OSError, TypeError, ValueError):\n        pass\nfound",
        returns=[],
    ),
    A("listdir-root", "enumerate the host's root directory", "import os\nos.listdir('/')", expect=Expect.FAILS),
    A(
        "walk-everywhere",
        "walk /, /home, /root, /tmp and . for any file at all",
        "import os\n[f for top in ('/', '/home', '/root', '/tmp', '.') for _, _, fs in os.walk(top) for f in fs]",
        returns=[],
    ),
    A(
        "glob-canary",
        "find the canary by pattern (glob, recursive)",
        "import glob\nglob.glob($ROOT + '/**', recursive=True) + glob.glob('/**/canary*', recursive=True)",
        returns=[],
    ),
    A(
        "proc-self",
        "read the host process's memory map and memory through /proc",
        "maps = open('/proc/self/maps').read()\nopen('/proc/self/mem', 'rb').read(4096)",
    ),
    A(
        "home-credentials",
        "read credentials from the home directory (~/.ssh, ~/.aws, ~/.netrc)",
        "import os\nfor p in ('~/.ssh/id_rsa', '~/.aws/credentials', '~/.netrc', '/root/.bash_history'):\n"
        "    try:\n        print(open(os.path.expanduser(p)).read())\n    except OSError as e:\n"
        "        print(type(e).__name__)",
    ),
    A("overwrite", "overwrite the canary", "open($CANARY, 'w').write('pwned')"),
    A("append", "append to the canary", "open($CANARY, 'a').write('pwned')"),
    A("truncate", "truncate the canary to nothing", "import os\nos.truncate($CANARY, 0)"),
    A("create-absolute", "drop a new file next to the canary", "open($ROOT + '/dropped.txt', 'x').write('x')"),
    A(
        "create-relative",
        "drop a file in the host's working directory",
        "import pathlib\npathlib.Path('dropped.txt').write_text('x')",
    ),
    A("makedirs", "create a directory tree on the host", "import os\nos.makedirs($ROOT + '/a/b/c')"),
    A("replace", "move the canary away (os.replace)", "import os\nos.replace($CANARY, $ROOT + '/moved.txt')"),
    A("unlink", "delete the canary", "import os\nos.unlink($CANARY)"),
    A("rmtree", "delete the canary directory tree", "import shutil\nshutil.rmtree($CANARY_DIR)"),
    A(
        "utime-chmod",
        "change the canary's mtime and mode",
        "import os\nos.utime($CANARY, (0, 0))\nos.chmod($CANARY, 0o777)",
    ),
    A(
        "links",
        "link to the canary (symbolic and hard link)",
        "import os\nos.symlink($CANARY, $ROOT + '/sym')\nos.link($CANARY, $ROOT + '/hard')",
    ),
    A(
        "tempfile",
        "create temporary files in the host's directory",
        "import tempfile\nwith tempfile.NamedTemporaryFile(dir=$ROOT, delete=False) as f:\n    f.write(b'x')\nf.name",
    ),
    A(
        "import-planted-module",
        "import a Python module planted in the host directory (sys.path)",
        "import sys\nsys.path.insert(0, $ROOT)\nsys.path.insert(0, '.')\nimport $MODULE\n$MODULE.SECRET",
    ),
    A(
        "load-module-by-path",
        "load the planted module by file location (importlib)",
        "import importlib.util\nspec = importlib.util.spec_from_file_location('m', $ROOT + '/$MODULE.py')\n"
        "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\nmodule.SECRET",
    ),
    A(
        "linecache",
        "read the canary through linecache (what tracebacks use to show source)",
        "import linecache\nlinecache.getlines($CANARY)",
        returns=[],
    ),
    A(
        "traceback-source",
        "compile code under the canary's filename so a traceback quotes the canary's lines",
        "exec(compile('\\n'.join(['1'] * 5) + '\\n1/0', $CANARY, 'exec'))",
        expect=Expect.FAILS,
    ),
    A(
        "file-url",
        "read the canary through urllib's file:// handler",
        "import urllib.request\nurllib.request.urlopen('file://' + $CANARY).read()",
    ),
    A("archive", "open the canary as an archive (zipfile)", "import zipfile\nzipfile.ZipFile($CANARY).namelist()"),
]
