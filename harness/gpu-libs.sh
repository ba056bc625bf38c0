#!/usr/bin/env bash
# Prepares what harness/gpu-check.sh needs on a bare device machine (it has
# the NVIDIA driver but none of our Debian packages, and reaches nothing):
# copies the shared libraries that casebisect, examples/mkcases and the toy
# trainer load (libuv, cJSON, Hyperscan, PCRE2, libarchive, niftilib and
# their own dependencies, not glibc) into build/gpu-libs/. Then carry
# build/gpu-libs, casebisect, examples/mkcases, harness/toytrain and
# harness/toytrain-cuda, and run `harness/gpu-check.sh` there (it puts
# build/gpu-libs on LD_LIBRARY_PATH and skips `make` when the binaries are
# present). Usage, here: make && harness/gpu-libs.sh
set -eu
cd "$(dirname "$0")/.."
out=build/gpu-libs
rm -rf "$out"
mkdir -p "$out"
for bin in casebisect examples/mkcases harness/toytrain harness/toytrain-cuda; do
	[ -x "$bin" ] || continue
	ldd "$bin" | awk '$3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
	case "$(basename "$lib")" in
	libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) ;;
	*) cp -L "$lib" "$out/" ;;
	esac
done
du -sh "$out"
