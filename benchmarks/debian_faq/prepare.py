"""Regenerate the Debian FAQ knowledge-QA demo: corpus/ and data/qa.jsonl.

Source: the Debian package `debian-faq` (version 11.1), which ships the FAQ as HTML. The
script downloads the .deb with `apt-get download debian-faq` (or takes a .deb path),
extracts it with `dpkg-deb -x`, keeps the 15 chapter pages (English), removes the DocBook
navigation bars and per-chapter tables of contents, and writes them to corpus/.

The question/answer pairs are written below by hand (facts a 135M model cannot know
closed-book: release codenames, Toy Story characters, commands, file paths, names), each
with the chapter that answers it. Every answer is checked to occur in its chapter's text
(as advisor reads it), so the gold source is real; the script fails otherwise.

    python benchmarks/debian_faq/prepare.py [path/to/debian-faq_11.1_all.deb]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from advisor.retrieval.corpus import html_to_text  # noqa: E402
from advisor.evaluation.scoring import normalize_answer  # noqa: E402

CHAPTERS = ["basic-defs", "getting-debian", "choosing", "compatibility", "software", "ftparchives", "pkg-basics",
            "pkgtools", "uptodate", "kernel", "customizing", "support", "contributing", "redistributing",
            "nextrelease"]

# Release -> codename, from section 6.2.1 (plus the stable/testing names of section 6.2).
RELEASES = [("1.1", "buzz"), ("1.2", "rex"), ("1.3", "bo"), ("2.0", "hamm"), ("2.1", "slink"), ("2.2", "potato"),
            ("3.0", "woody"), ("3.1", "sarge"), ("4.0", "etch"), ("5.0", "lenny"), ("6.0", "squeeze"),
            ("7", "wheezy"), ("8", "jessie"), ("9", "stretch"), ("10", "buster")]
# Codename -> the Toy Story character it names (section 6.2.2), as a short answer.
CHARACTERS = [("rex", "tyrannosaurus"), ("bo", "Bo Peep"), ("hamm", "piggy bank"), ("slink", "Slinky Dog"),
              ("woody", "cowboy"), ("etch", "toy whiteboard"), ("lenny", "toy binoculars"),
              ("squeeze", "three-eyed aliens"), ("wheezy", "rubber toy penguin"), ("jessie", "yodeling cowgirl"),
              ("stretch", "rubber toy octopus"), ("buster", "Andy's pet dog"), ("bullseye", "wooden toyhorse"),
              ("bookworm", "green toy worm"), ("trixie", "blue plastic triceratops")]
# (question, answer, chapter)
FACTS = [
    ("Who created the Debian Project?", "Ian Murdock", "basic-defs"),
    ("In which year was the Debian Project created?", "1993", "basic-defs"),
    ("The name Debian comes from the names of Ian Murdock and which other person?", "Debra", "basic-defs"),
    ("Which Debian port runs on the GNU Mach microkernel servers and is its oldest porting effort?", "Hurd", "basic-defs"),
    ("Who decided that Debian releases would be named after Toy Story characters?", "Bruce Perens", "ftparchives"),
    ("At which company, the one that produced Toy Story, was Bruce Perens working?", "Pixar", "ftparchives"),
    ("Which codename is the unstable distribution always a symbolic link to?", "sid", "ftparchives"),
    ("Which Toy Story character does the codename sid refer to?", "boy next door", "ftparchives"),
    ("What is the codename of Debian 11, the stable release in this FAQ?", "bullseye", "ftparchives"),
    ("What is the codename of the testing distribution in this FAQ?", "bookworm", "ftparchives"),
    ("Which file can you check for to know that you are on a Debian system?", "/etc/debian_version", "software"),
    ("Which command prints the Linux Standard Base version information of the system?", "lsb_release -a", "software"),
    ("Which package do you install to get the tools needed to build Debian packages?", "build-essential", "software"),
    ("Which mailing list address can you email to ask Debian users for help?", "debian-user@lists.debian.org", "choosing"),
    ("Which file tells APT where to download packages from?", "/etc/apt/sources.list", "choosing"),
    ("Which command lists the files of an installed package named foo?", "dpkg --listfiles foo", "pkgtools"),
    ("Which dpkg command finds the package that installed a file named foo?", "dpkg --search foo", "pkgtools"),
    ("Which command, after installing a package of the same name, searches all packages for a file?", "apt-file search",
     "pkgtools"),
    ("Which command shows a verbose status report for one installed package?", "dpkg --status", "pkgtools"),
    ("Which command marks a package as held so it is not upgraded?", "apt-mark hold", "pkg-basics"),
    ("Which dpkg option writes the list of package selections to a file?", "--get-selections", "pkg-basics"),
    ("Which program converts between Red Hat .rpm and Debian .deb packages?", "alien", "compatibility"),
    ("Under which directory should you install programs that are not packaged for Debian?", "/usr/local", "compatibility"),
    ("Which dpkg log file records every package installation when logging is enabled?", "/var/log/dpkg.log",
     "uptodate"),
    ("Which tool updates a Debian system at regular intervals using a cron job?", "cron-apt", "uptodate"),
    ("Which tool caches downloaded packages so several Debian machines fetch them only once?", "apt-cacher",
     "uptodate"),
    ("Which package makes all programs use the same system-wide paper size?", "libpaper1", "customizing"),
    ("In which file is the system-wide default paper size kept?", "/etc/papersize", "customizing"),
    ("Which environment variable lets a user override the paper size?", "PAPERSIZE", "customizing"),
    ("Which package provides traditional System V init on Debian?", "sysvinit-core", "customizing"),
    ("Which program does Debian use for dependency-based boot ordering of init scripts?", "insserv", "customizing"),
    ("Which program speeds up booting by running init scripts concurrently?", "startpar", "customizing"),
    ("Which program does Debian use by default as its init implementation?", "systemd", "customizing"),
    ("Which package guides you through reporting a bug in Debian?", "reportbug", "support"),
    ("Which organization is the main one collecting donations for Debian?", "Software in the Public Interest",
     "contributing"),
    ("Under which IRS section is Software in the Public Interest a non-profit organization?", "501(c)(3)",
     "contributing"),
    ("Which program installs predefined collections of packages called tasks?", "tasksel", "pkgtools"),
    ("Which architecture name refers to AMD64, Intel 64 or VIA Nano chips in package file names?", "amd64",
     "pkg-basics"),
    ("Which Debian port supports 64-bit IBM System z machines?", "s390x", "compatibility"),
    ("Which package do you install to build your own kernel packages the Debian way?", "kernel-package", "software"),
]


def questions() -> list[dict]:
    rows: list[dict] = []
    for version, name in RELEASES:
        rows.append({"question": f"What was the codename of Debian release {version}?", "answer": name,
                     "source": "ftparchives.html", "kind": "codename"})
    for name, character in CHARACTERS:
        rows.append({"question": f"In Toy Story, who or what was {name}, the character a Debian release was named after?",
                     "answer": character, "source": "ftparchives.html", "kind": "character"})
    for question, answer, chapter in FACTS:
        rows.append({"question": question, "answer": answer, "source": f"{chapter}.html", "kind": "fact"})
    for i, row in enumerate(rows):
        row["id"] = f"dfaq-{i:03d}"
    return rows


def _clean(page: str) -> str:
    """Drop DocBook navigation bars and tables of contents (not content; they would match every query)."""
    page = re.sub(r'<div class="navheader">.*?</div>', "", page, flags=re.S)
    page = re.sub(r'<div class="navfooter">.*?</div>', "", page, flags=re.S)
    page = re.sub(r'<div class="toc">.*?</dl></div>', "", page, flags=re.S)
    return page


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if argv:
            deb = Path(argv[0]).resolve()
        else:
            subprocess.run(["apt-get", "download", "debian-faq"], cwd=tmp, check=True)
            deb = next(tmp_path.glob("debian-faq_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
        faq = tmp_path / "x" / "usr" / "share" / "doc" / "debian" / "FAQ"
        corpus = HERE / "corpus"
        corpus.mkdir(exist_ok=True)
        texts = {}
        for chapter in CHAPTERS:
            page = _clean((faq / f"{chapter}.en.html").read_text(encoding="utf-8"))
            (corpus / f"{chapter}.html").write_text(page, encoding="utf-8")
            texts[f"{chapter}.html"] = f" {normalize_answer(html_to_text(page))} "
        copyright_text = (tmp_path / "x" / "usr" / "share" / "doc" / "debian-faq" / "copyright").read_text()
        (HERE / "COPYRIGHT.debian-faq").write_text(copyright_text, encoding="utf-8")
    rows = questions()
    missing = [r for r in rows if f" {normalize_answer(r['answer'])} " not in texts[r["source"]]]
    if missing:
        for r in missing:
            print(f"answer not in its source: {r['id']} {r['answer']!r} ({r['source']})", file=sys.stderr)
        return 1
    (HERE / "data").mkdir(exist_ok=True)
    with (HERE / "data" / "qa.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(CHAPTERS)} chapters to corpus/ and {len(rows)} questions to data/qa.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
