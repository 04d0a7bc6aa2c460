/**
 * The folder mode's embeddings files (`--save-embeddings`).
 *
 * @module
 */
import { atomicWriteFile } from "./files.ts";
import { encodeNpyFloat32 } from "./npy.ts";

/**
 * Write OUT/GraFIQs_embeddings.npy (N x E float32, rows in score-file order, not normalised)
 * and OUT/GraFIQs_embeddings.txt (one path per line, same order), both atomically.
 *
 * @param outDir the output folder (must exist)
 * @param scored the scored images: the path text as printed and its embedding (E float32)
 * @throws Error `cannot write <path>: <reason>` (see {@link atomicWriteFile})
 */
export async function saveEmbeddings(
  outDir: string,
  scored: readonly { path: string; embedding: Float32Array }[],
): Promise<void> {
  const E = scored.length ? scored[0].embedding.length : 0;
  const all = new Float32Array(scored.length * E);
  scored.forEach((s, i) => all.set(s.embedding, i * E));
  await atomicWriteFile(
    `${outDir}/GraFIQs_embeddings.npy`,
    encodeNpyFloat32(all, scored.length, E),
  );
  await atomicWriteFile(
    `${outDir}/GraFIQs_embeddings.txt`,
    scored.map((s) => s.path + "\n").join(""),
  );
}
