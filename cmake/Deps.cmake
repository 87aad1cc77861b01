# Every third-party library comes from Debian's packages (scripts/setup.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(doctest REQUIRED)
# NNG: Debian's source rebuilt by scripts/setup.sh with fixed thread counts
# (docs/ARCHITECTURE.md, "Threads"), linked statically; never the system's
# libnng1, whose pools grow with the core count.
set(WA_NNG_PREFIX /opt/wa/nng CACHE PATH "NNG built from Debian's source by scripts/setup.sh")
# A build directory configured before may still cache the system's package.
if(DEFINED nng_DIR AND NOT nng_DIR MATCHES "^${WA_NNG_PREFIX}/")
  unset(nng_DIR CACHE)
endif()
find_package(nng 1.5 CONFIG PATHS ${WA_NNG_PREFIX} NO_DEFAULT_PATH)
if(NOT nng_FOUND)
  message(FATAL_ERROR "NNG with the project's thread counts is not in ${WA_NNG_PREFIX}: run scripts/setup.sh")
endif()
find_package(Protobuf REQUIRED)

pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(LWS REQUIRED IMPORTED_TARGET libwebsockets)
pkg_check_modules(SIGNAL REQUIRED IMPORTED_TARGET libsignal-protocol-c)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(PROTOBUF_LITE REQUIRED IMPORTED_TARGET protobuf-lite)
# Media (docs/ARCHITECTURE.md, "Media"): HTTPS transfers, type detection,
# thumbnails and audio/video probing are done by the libraries of the field.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(MAGIC REQUIRED IMPORTED_TARGET libmagic)
pkg_check_modules(VIPS REQUIRED IMPORTED_TARGET vips)
pkg_check_modules(AV REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswresample libswscale)
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
endif()
include(/usr/lib/cmake/doctest/doctest.cmake)
