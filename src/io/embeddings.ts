/**
 * The folder mode's embeddings files (`--save-embeddings`).
 *
 * @module
 */
import { atomicWriteFile } from "./files.ts";
import { encodeNpyFloat32 } from "./npy.ts";

/** The embeddings' file names in OUT: the matrix and its paths. */
export const EMBEDDINGS_FILE_NAMES = ["GraFIQs_embeddings.npy", "GraFIQs_embeddings.txt"] as const;

/**
 * The embeddings files' contents: GraFIQs_embeddings.npy (N x E float32, rows in score-file
 * order, not normalised) and GraFIQs_embeddings.txt (one path per line, same order), each as a
 * function that builds it when called (see `FileSetEntry.data`).
 *
 * @param scored the scored images: the path text as printed and its embedding (E float32)
 * @returns `[{ name: "GraFIQs_embeddings.npy", data }, { name: "GraFIQs_embeddings.txt", data }]`
 */
export function embeddingFiles(
  scored: readonly { path: string; embedding: Float32Array }[],
): { name: string; data: () => Uint8Array | string }[] {
  const npy = () => {
    const E = scored.length ? scored[0].embedding.length : 0;
    const all = new Float32Array(scored.length * E);
    scored.forEach((s, i) => all.set(s.embedding, i * E));
    return encodeNpyFloat32(all, scored.length, E);
  };
  const txt = () => scored.map((s) => s.path + "\n").join("");
  return [{ name: EMBEDDINGS_FILE_NAMES[0], data: npy }, {
    name: EMBEDDINGS_FILE_NAMES[1],
    data: txt,
  }];
}

/**
 * Write OUT/GraFIQs_embeddings.npy and OUT/GraFIQs_embeddings.txt ({@link embeddingFiles}),
 * each atomically (the main command writes them with the score files as one set instead:
 * `writeResultSet`, result_set.ts).
 *
 * @param outDir the output folder (must exist)
 * @param scored the scored images: the path text as printed and its embedding (E float32)
 * @throws Error `cannot write <path>: <reason>` (see {@link atomicWriteFile})
 */
export async function saveEmbeddings(
  outDir: string,
  scored: readonly { path: string; embedding: Float32Array }[],
): Promise<void> {
  for (const f of embeddingFiles(scored)) await atomicWriteFile(`${outDir}/${f.name}`, f.data());
}
