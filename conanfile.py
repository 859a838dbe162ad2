"""Conan 2 recipe: packages allezon from this source tree.

    conan create . --build=missing                      # static C++ library + shared C ABI
    conan create . -o "allezon/*:shared=True"           # shared C++ library too
    conan create . -o "allezon/*:with_server=True"      # also bin/allezon-server (Boost.Beast)

Consumers: find_package(allezon CONFIG) and the targets allezon::allezon (C++) and
allezon::allezon_c (C ABI), the same names as a plain `cmake --install` gives.
The package's CMake build finds its dependencies by the target names Conan's CMakeDeps
generates (absl::*, lmdb::lmdb, rapidjson, httplib::httplib): cmake/AllezonDependencies.cmake.
"""

import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

required_conan_version = ">=2.0"


class AllezonConan(ConanFile):
    name = "allezon"
    description = ("Embeddable event store for clickstream analytics: per-user recent events "
                   "and per-minute aggregates over one LMDB environment")
    license = "LicenseRef-Allezon"  # see the repository's README
    topics = ("analytics", "clickstream", "lmdb", "embedded-database")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "with_c_api": [True, False],
        "with_server": [True, False],
    }
    default_options = {
        "shared": False,
        "fPIC": True,
        "with_c_api": True,
        "with_server": False,
    }
    exports_sources = (
        "CMakeLists.txt",
        "cmake/*",
        "lib/*",
        "bindings/*",
        "server/*",
        "LICENSE*",
    )

    def set_version(self):
        # One source of truth: project(allezon VERSION x.y.z) in CMakeLists.txt.
        text = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*allezon\s+VERSION\s+([0-9.]+)", text)
        self.version = self.version or (match.group(1) if match else "0.0.0")

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # Abseil's Status/StatusOr are in the public headers.
        self.requires("abseil/[>=20220623.0]", transitive_headers=True)
        self.requires("lmdb/[>=0.9.24 <1]")
        self.requires("rapidjson/cci.20230929")
        if self.options.with_server:
            # Boost.Beast parses the server's requests (headers only); cpp-httplib is the
            # cluster's peer client.
            self.requires("boost/[>=1.74.0]", options={"header_only": True})
            self.requires("cpp-httplib/[>=0.11.4 <1]")

    def validate(self):
        check_min_cppstd(self, 20)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["ALLEZON_BUILD_TESTS"] = False
        tc.cache_variables["ALLEZON_BUILD_EXAMPLES"] = False
        tc.cache_variables["ALLEZON_BUILD_BENCH"] = False
        tc.cache_variables["ALLEZON_BUILD_SERVER"] = bool(self.options.with_server)
        tc.cache_variables["ALLEZON_BUILD_BINDINGS"] = bool(self.options.with_c_api)
        # Conan models one library per name: ship the C ABI as the shared liballezon_c only.
        tc.cache_variables["ALLEZON_C_STATIC"] = False
        tc.cache_variables["ALLEZON_INSTALL"] = True
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE*", src=self.source_folder,
             dst=os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # Conan generates the consumers' CMake and pkg-config files from package_info().
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "allezon")
        self.cpp_info.set_property("pkg_config_name", "allezon")

        lib = self.cpp_info.components["allezon"]
        lib.set_property("cmake_target_name", "allezon::allezon")
        lib.libs = ["allezon"]
        lib.requires = [
            "abseil::absl_status",
            "abseil::absl_statusor",
            "abseil::absl_flat_hash_map",
            "abseil::absl_synchronization",
            "abseil::absl_strings",
            "abseil::absl_time",
            "abseil::absl_str_format",
            "lmdb::lmdb",
            "rapidjson::rapidjson",
        ]
        if self.options.shared:
            lib.defines = ["ALLEZON_SHARED_LIBRARY"]
        if self.settings.os in ("Linux", "FreeBSD"):
            lib.system_libs = ["pthread", "m"]

        if self.options.with_c_api:
            c_api = self.cpp_info.components["allezon_c"]
            c_api.set_property("cmake_target_name", "allezon::allezon_c")
            c_api.set_property("pkg_config_name", "allezon_c")
            c_api.libs = ["allezon_c"]
            c_api.defines = ["ALLEZON_C_SHARED_LIBRARY"]
            c_api.requires = ["allezon"]
