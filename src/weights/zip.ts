/**
 * A minimal reader of ZIP archives as `torch.save` writes them (since PyTorch 1.6).
 *
 * PyTorch stores every entry uncompressed and pads the local headers so that each entry's data
 * starts at a multiple of 64 bytes. Reading the central directory here lets stored entries be
 * returned as zero-copy views of the file's bytes, which keeps a 100 MB checkpoint fast to open
 * (copying the data would cost more than parsing it). Deflated entries, which other zip
 * writers may produce, are inflated with `fflate`'s streaming inflater into a buffer of the size
 * the central directory declares, and inflation stops as soon as the output would exceed it, so
 * a deflate bomb (a few MB inflating to GBs) costs at most its declared size in memory. Callers
 * bound the declared size first (`limit` of {@link zipEntryData}). ZIP64 records (archives or
 * entries over 4 GiB, or over 65535 entries) are understood.
 *
 * @module
 */
import { Inflate } from "fflate";

/** One entry of the central directory. */
export interface ZipEntry {
  /** Path inside the archive, '/'-separated (UTF-8 or CP437-as-Latin-1 decoded). */
  name: string;
  /** Compression method: 0 stored, 8 deflate (others are refused when read). */
  method: number;
  /** General-purpose flags of the entry (bit 0 set means encrypted). */
  flags: number;
  /** Bytes of the (possibly compressed) data in the archive. */
  compressedSize: number;
  /** Bytes of the data once decompressed. */
  size: number;
  /** Offset of the entry's local header from the start of the archive. */
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_EOCD64 = 0x06064b50;

function u64(view: DataView, offset: number, what: string, fileName: string): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  const v = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) throw new Error(`${fileName}: zip ${what} ${v} is too large`);
  return v;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const latin1 = new TextDecoder("latin1");

/**
 * Parse the central directory of a zip archive.
 * @param bytes the whole archive.
 * @param fileName used in error messages.
 * @returns the entries by name, in central-directory order.
 * @throws Error naming the file when there is no end-of-central-directory record (not a zip, or
 * truncated), when a record points outside the file, or for multi-disk archives.
 */
export function readZipDirectory(bytes: Uint8Array, fileName: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  // The end-of-central-directory record is 22 bytes plus a comment of at most 65535 bytes.
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - 65535); p--) {
    if (view.getUint32(p, true) === SIG_EOCD && p + 22 + view.getUint16(p + 20, true) <= n) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) {
    throw new Error(
      `${fileName}: no zip end-of-central-directory record found (the file is truncated or not ` +
        `a zip archive)`,
    );
  }
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) {
    throw new Error(`${fileName}: multi-disk zip archives are not supported`);
  }
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_EOCD64_LOCATOR) {
      throw new Error(`${fileName}: zip64 end-of-central-directory locator missing`);
    }
    const e64 = u64(view, loc + 8, "zip64 record offset", fileName);
    if (e64 + 56 > n || view.getUint32(e64, true) !== SIG_EOCD64) {
      throw new Error(`${fileName}: zip64 end-of-central-directory record missing or truncated`);
    }
    count = u64(view, e64 + 32, "entry count", fileName);
    cdSize = u64(view, e64 + 40, "central directory size", fileName);
    cdOffset = u64(view, e64 + 48, "central directory offset", fileName);
  }
  if (cdOffset + cdSize > n) {
    throw new Error(
      `${fileName}: zip central directory (${cdSize} bytes at ${cdOffset}) lies beyond the end ` +
        `of the file (${n} bytes): the file is truncated`,
    );
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new Error(`${fileName}: zip central directory entry ${i} is malformed`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) {
      throw new Error(`${fileName}: zip central directory entry ${i} is malformed`);
    }
    const rawName = bytes.subarray(p + 46, p + 46 + nameLen);
    const name = (flags & 0x800) ? utf8.decode(rawName) : latin1.decode(rawName);
    // ZIP64 extended information: only the fields saturated in the fixed record are present,
    // in the order size, compressed size, local header offset.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = view.getUint16(q, true);
      const len = view.getUint16(q + 2, true);
      if (id === 0x0001) {
        let r = q + 4;
        const need = (size === 0xffffffff ? 8 : 0) + (compressedSize === 0xffffffff ? 8 : 0) +
          (localHeaderOffset === 0xffffffff ? 8 : 0);
        if (need > len) throw new Error(`${fileName}: zip64 field of "${name}" is too short`);
        if (size === 0xffffffff) size = u64(view, r, "entry size", fileName), r += 8;
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(view, r, "entry size", fileName), r += 8;
        }
        if (localHeaderOffset === 0xffffffff) {
          localHeaderOffset = u64(view, r, "entry offset", fileName), r += 8;
        }
      }
      q += 4 + len;
    }
    entries.set(name, { name, method, flags, compressedSize, size, localHeaderOffset });
    p = end;
  }
  return entries;
}

/**
 * How many compressed bytes to push to the inflater next, when `remaining` more output bytes
 * are allowed. Deflate expands at most 1032:1, so one push produces at most about
 * `remaining` + 1 MiB: a bomb overshoots its declared size by at most about 1 MiB before the
 * size check sees it, while a large legitimate entry is pushed in chunks of up to 1 MiB.
 */
function inflateChunk(remaining: number): number {
  return Math.min(2 ** 20, Math.floor(remaining / 1032) + 1024);
}

/**
 * The decompressed bytes of one entry. Stored entries are returned as views of `bytes` (no
 * copy); deflated ones are inflated into a new array of exactly the declared size, streaming:
 * inflation stops as soon as the output would pass the declared size.
 * @param bytes the whole archive.
 * @param entry an entry of {@link readZipDirectory}'s result for `bytes`.
 * @param fileName used in error messages.
 * @param limit the most bytes the caller accepts for this entry (default: no limit); an entry
 * whose directory record declares more is refused before anything is inflated.
 * @throws Error naming the file and entry when the local header is missing or the data runs past
 * the end of the file (truncated), for encrypted entries, unsupported compression methods, when
 * the declared size exceeds `limit`, or when the data inflates to more (stopped there) or fewer
 * bytes than declared.
 */
export function zipEntryData(
  bytes: Uint8Array,
  entry: ZipEntry,
  fileName: string,
  limit = Infinity,
): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.localHeaderOffset;
  if (h + 30 > bytes.byteLength || view.getUint32(h, true) !== SIG_LOCAL) {
    throw new Error(`${fileName}: zip entry "${entry.name}" has no local header at offset ${h}`);
  }
  if (entry.flags & 1) throw new Error(`${fileName}: zip entry "${entry.name}" is encrypted`);
  if (entry.size > limit) {
    throw new Error(
      `${fileName}: zip entry "${entry.name}" declares ${entry.size} bytes, more than the ` +
        `${limit} expected; refusing to read it`,
    );
  }
  const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.byteLength) {
    throw new Error(
      `${fileName}: zip entry "${entry.name}" needs bytes ${start}..${end} but the file has ` +
        `${bytes.byteLength}: the file is truncated`,
    );
  }
  const raw = bytes.subarray(start, end);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) {
      throw new Error(`${fileName}: stored zip entry "${entry.name}" has inconsistent sizes`);
    }
    return raw;
  }
  if (entry.method === 8) return inflateBounded(raw, entry, fileName);
  throw new Error(
    `${fileName}: zip entry "${entry.name}" uses compression method ${entry.method} (only stored ` +
      `and deflate are supported)`,
  );
}

/**
 * Inflate `raw` into a new array of `entry.size` bytes, pushing the compressed data in pieces
 * ({@link inflateChunk}) and stopping at the first piece whose output passes the size.
 */
function inflateBounded(raw: Uint8Array, entry: ZipEntry, fileName: string): Uint8Array {
  const declared = entry.size;
  const out = new Uint8Array(declared);
  let reached = 0;
  const inflater = new Inflate((chunk: Uint8Array) => {
    if (reached + chunk.byteLength <= declared) out.set(chunk, reached);
    reached += chunk.byteLength;
  });
  try {
    let p = 0;
    do {
      const q = Math.min(p + inflateChunk(declared - reached), raw.byteLength);
      inflater.push(raw.subarray(p, q), q === raw.byteLength);
      p = q;
    } while (p < raw.byteLength && reached <= declared);
  } catch (e) {
    throw new Error(`${fileName}: zip entry "${entry.name}" does not inflate: ${String(e)}`);
  }
  if (reached > declared) {
    throw new Error(
      `${fileName}: zip entry "${entry.name}" inflates past its declared size of ${declared} ` +
        `bytes (stopped at ${reached} bytes): a deflate bomb or a corrupt archive`,
    );
  }
  if (reached !== declared) {
    throw new Error(
      `${fileName}: zip entry "${entry.name}" inflates to ${reached} bytes, expected ${declared}`,
    );
  }
  return out;
}
