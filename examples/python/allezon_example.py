"""Allezon from Python: load user tags, read a shopper's profile and a campaign's minutes.

Standard library only: ctypes over the C API (liballezon_c.so, header allezon/c.h).

    python3 allezon_example.py [path/to/liballezon_c.so]

The library is looked up in this order: the argument, $ALLEZON_C_LIBRARY, the system's
library path (ctypes.util.find_library("allezon_c")).
"""

import ctypes
import ctypes.util
import json
import os
import random
import sys
import tempfile


class AllezonError(Exception):
    """An error from the library; .code is the code word, e.g. "InvalidArgument"."""

    def __init__(self, message):
        super().__init__(message)
        self.code = message.split(":", 1)[0]


class Allezon:
    """One open store. Thread-safe, like the C handle: share it between threads."""

    def __init__(self, data_dir, library=None):
        self._lib = _load(library)
        self._db = self._call(self._lib.allezon_open, os.fsencode(data_dir))

    def close(self):
        if self._db:
            self._lib.allezon_close(self._db)
            self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version(self):
        return self._lib.allezon_version().decode()

    def add_tags(self, tags):
        """Stores an iterable of tag dicts (SPEC §1 JSON) in one commit, all or none."""
        data = "\n".join(json.dumps(tag) for tag in tags).encode()
        return self._call(self._lib.allezon_add_tags_jsonl, self._db, data, len(data))

    def profile(self, cookie, begin, end, limit=200):
        """{"cookie", "views", "buys"}: tags in [begin, end), newest first."""
        text = self._call(self._lib.allezon_profile_json, self._db, cookie.encode(),
                          self.millis(begin), self.millis(end), limit)
        return json.loads(self._take_string(text))

    def aggregates(self, begin, end, action, aggregates=("COUNT", "SUM_PRICE"),
                   origin=None, brand_id=None, category_id=None):
        """{"columns", "rows"}: one row per minute of [begin, end), values as strings."""
        names = (ctypes.c_char_p * len(aggregates))(*(a.encode() for a in aggregates))
        opt = lambda s: s.encode() if s is not None else None
        text = self._call(self._lib.allezon_aggregates_json, self._db, self.millis(begin),
                          self.millis(end), action.encode(), opt(origin), opt(brand_id),
                          opt(category_id), names, len(aggregates))
        return json.loads(self._take_string(text))

    def millis(self, when):
        """Epoch milliseconds from an int or a "2022-03-01T00:00:00[.000][Z]" string."""
        if isinstance(when, int):
            return when
        return self._call(self._lib.allezon_parse_time, when.encode())

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, fn, *args):
        err = ctypes.c_void_p()
        result = fn(*args, ctypes.byref(err))
        if err.value:
            message = ctypes.string_at(err.value).decode(errors="replace")
            self._lib.allezon_free(err)
            raise AllezonError(message)
        return result

    def _take_string(self, pointer):
        try:
            return ctypes.string_at(pointer).decode()
        finally:
            self._lib.allezon_free(pointer)


def _load(path=None):
    path = path or os.environ.get("ALLEZON_C_LIBRARY") or ctypes.util.find_library("allezon_c")
    if not path:
        raise OSError("liballezon_c not found: pass its path or set ALLEZON_C_LIBRARY")
    lib = ctypes.CDLL(path)
    err = ctypes.POINTER(ctypes.c_void_p)
    i64, db = ctypes.c_int64, ctypes.c_void_p
    signatures = {
        "allezon_version": (ctypes.c_char_p, []),
        "allezon_free": (None, [ctypes.c_void_p]),
        "allezon_open": (db, [ctypes.c_char_p, err]),
        "allezon_close": (None, [db]),
        "allezon_add_tags_jsonl": (ctypes.c_size_t, [db, ctypes.c_char_p, ctypes.c_size_t, err]),
        # char* results as c_void_p: the pointer must reach allezon_free unchanged.
        "allezon_profile_json": (ctypes.c_void_p, [db, ctypes.c_char_p, i64, i64, ctypes.c_int32,
                                                   err]),
        "allezon_aggregates_json": (ctypes.c_void_p,
                                    [db, i64, i64, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, err]),
        "allezon_parse_time": (i64, [ctypes.c_char_p, err]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def main():
    library = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as data_dir, Allezon(data_dir, library) as store:
        print("allezon", store.version())

        # A made-up minute of clickstream: 1000 tags, 1 ms apart, from 20 shoppers.
        rng = random.Random(7)
        tags = [{
            "time": 1646092800000 + i,  # 2022-03-01T00:00:00.000Z + i ms
            "cookie": f"cookie{i % 20:02d}",
            "country": rng.choice(["PL", "DE", "FR"]),
            "device": rng.choice(["PC", "MOBILE", "TV"]),
            "action": "BUY" if i % 7 == 0 else "VIEW",
            "origin": rng.choice(["SPRING_SALE", "NEWSLETTER"]),
            "product_info": {"product_id": rng.randint(1, 500),
                             "brand_id": rng.choice(["Nike", "Adidas"]),
                             "category_id": "SHOES", "price": rng.randint(100, 5000)},
        } for i in range(1000)]
        print("stored", store.add_tags(tags), "tags")

        profile = store.profile("cookie07", "2022-03-01T00:00:00", "2022-03-01T00:01:00", limit=5)
        print(f"cookie07: {len(profile['views'])} views (newest {profile['views'][0]['time']}), "
              f"{len(profile['buys'])} buys")
        assert [t["time"] for t in profile["views"]] == sorted(
            (t["time"] for t in profile["views"]), reverse=True)

        stats = store.aggregates("2022-03-01T00:00:00", "2022-03-01T00:02:00", "BUY",
                                 brand_id="Nike")
        print(stats["columns"])
        for row in stats["rows"]:
            print(row)
        expected_buys = sum(1 for t in tags
                            if t["action"] == "BUY" and t["product_info"]["brand_id"] == "Nike")
        assert int(stats["rows"][0][3]) == expected_buys, stats
        assert stats["rows"][1][3] == "0"

        try:
            store.add_tags([{"cookie": "x"}])
        except AllezonError as e:
            print("invalid tag rejected:", e.code)
            assert e.code == "InvalidArgument"
    print("ok")


if __name__ == "__main__":
    main()
