# Sourced by the platform smoke scripts. pinned_node PACKAGE VERSION INTEGRITY CACHE BINARY:
# fetches npm's PACKAGE@VERSION (a Node.js build for another platform) into CACHE once, refusing
# any tarball whose integrity is not the pinned one, and prints the path of its bin/BINARY.
# It runs inside $(…), where `set -e` does not reach: each step returns on failure itself.
pinned_node() {
  local package=$1 version=$2 integrity=$3 cache=$4 binary=$5
  local folder="$cache/$package-$version"
  if [ ! -f "$folder/package/bin/$binary" ]; then
    rm -rf "$folder" && mkdir -p "$folder"
    local tarball
    tarball=$(npm pack "$package@$version" --pack-destination "$cache" --json 2>/dev/null | node -e '
      const [entry] = JSON.parse(require("fs").readFileSync(0, "utf8"));
      if (entry.integrity !== process.argv[2]) { console.error(`${process.argv[1]} integrity ${entry.integrity} is not the pinned one`); process.exit(1); }
      console.log(entry.filename);' "$package" "$integrity") || return 1
    tar -xzf "$cache/$tarball" -C "$folder" || return 1
    rm -f "$cache/$tarball"
  fi
  echo "$folder/package/bin/$binary"
}
