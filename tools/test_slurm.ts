/**
 * `deno task test:slurm`: the documented Slurm array job under a real Slurm, on this machine.
 *
 * 1. Installs Debian's `slurm-wlm` and `munge` when slurmctld, slurmd, sbatch or munged is
 *    missing (apt-get; needs root).
 * 2. Starts munged, slurmctld and slurmd in the foreground as this process's children, with a
 *    generated minimal configuration in a temporary folder (own munge key and socket, own
 *    ports, state and spool folders; one node with 2 CPUs and 2 stand-in `gpu` GRES, one
 *    partition). The daemons and the jobs run as the invoking user (`SlurmUser` and
 *    `SlurmdUser` are set to it): root where the test is run as root, as on our build machines.
 * 3. Submits the script of docs/PIPELINE.md (the block after `<!-- slurm-script: ...`) with
 *    `sbatch grafiqs.sh` (its `--array=0-3`, 1 CPU per task) over the 42 reference faces with the
 *    real MobileFaceNet.
 * 4. Kills the largest shard's task with SIGKILL (the pid in its record file's lock) once its
 *    first batch of records is on disk, waits for Slurm to mark it FAILED, and requeues it
 *    (`scontrol requeue`): the rerun resumes its record file (`--resume`), which its log must
 *    say, with the records kept.
 * 5. Runs the documented merge (the block after `<!-- slurm-merge: ...`), then one folder-mode
 *    run, and compares every output file byte for byte.
 * 6. Whatever happened (also on SIGINT or SIGTERM): cancels the job if it is still queued, kills
 *    the slurmstepd processes left of it (those whose environment names this configuration),
 *    and stops slurmd, slurmctld and munged by their pids (SIGTERM, SIGKILL after 10 s).
 *
 * Prints each phase's time and exits 0 on success, 1 with the daemons' and jobs' logs on failure,
 * 130 on SIGINT or SIGTERM. The temporary folder is removed on success and on a signal, and kept
 * (and named) on failure.
 *
 * @module
 */
import { join } from "node:path";
import {
  compareFolders,
  docBlock,
  ensurePrograms,
  folderRun,
  output,
  prepareWorkDir,
  shardSizes,
} from "./cluster_util.ts";
import { parseToolArgs } from "./tool_args.ts";

const USAGE = `Usage: deno task test:slurm

Runs the documented Slurm array job of docs/PIPELINE.md on this machine, then
grafiqs merge, and compares the merged files byte for byte with one folder-mode run (see this
file's header for the steps). Installs slurm-wlm and munge with apt-get when missing (needs root).
Takes no options.

Expected running time: 1.5 to 2 min on a 2-core machine.`;
parseToolArgs("test:slurm", USAGE, Deno.args, {});

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
const log = (m: string) => console.error(`[test:slurm ${secs()} s] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A daemon started by this test. */
interface Daemon {
  name: string;
  child: Deno.ChildProcess;
}
const daemons: Daemon[] = [];
/** Whether the failure was already reported with the logs. */
let reported = false;

function start(name: string, cmd: string, args: string[], env: Record<string, string>): void {
  const child = new Deno.Command(cmd, { args, env, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
  daemons.push({ name, child });
  log(`started ${name} (pid ${child.pid})`);
}

/** The running Slurm instance: its environment and the submitted job, once there are. */
const cluster: { dir?: string; env?: Record<string, string>; conf?: string; jobId?: string } = {};

/**
 * Clean up whatever happened: cancel the job if it is still queued or running, kill what is
 * left of its steps, then stop the daemons.
 */
async function cleanUp(): Promise<void> {
  const { env, conf, jobId } = cluster;
  if (env && jobId && daemons.length) {
    try {
      const queued = async () => (await output("squeue", ["-h", "-j", jobId], { env })).trim();
      if (await queued()) {
        await output("scancel", [jobId], { env });
        log(`cancelled job ${jobId}`);
        await waitFor(
          "the cancelled job to leave the queue",
          30_000,
          async () => (await queued()) === "" ? true : undefined,
        );
      }
    } catch (e) {
      console.error(`scancel ${jobId}: ${(e as Error).message}`);
    }
  }
  if (conf) await killSteps(conf);
  await stopDaemons();
}

/**
 * SIGKILL the slurmstepd processes (a job step's keeper, which slurmd starts and which outlives
 * it) of this instance: those whose environment holds `SLURM_CONF=conf`, found in /proc.
 */
async function killSteps(conf: string): Promise<void> {
  const mark = `\0SLURM_CONF=${conf}\0`;
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const comm = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
      if (comm !== "slurmstepd") continue;
      const environ = "\0" + (await Deno.readTextFile(`/proc/${e.name}/environ`));
      if (!environ.includes(mark)) continue;
      Deno.kill(Number(e.name), "SIGKILL");
      log(`killed a left-over slurmstepd (pid ${e.name})`);
    } catch { /* gone, or not ours to read */ }
  }
}

/** Stop every daemon this test started, last first, by its pid. */
async function stopDaemons(): Promise<void> {
  for (const d of [...daemons].reverse()) {
    try {
      d.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const ended = await Promise.race([d.child.status.then(() => true), sleep(10_000)]);
    if (!ended) {
      try {
        d.child.kill("SIGKILL");
      } catch { /* gone */ }
      await d.child.status;
    }
    log(`stopped ${d.name} (pid ${d.child.pid})`);
  }
  daemons.length = 0;
}

async function waitFor<T>(
  what: string,
  limitMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const end = performance.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > end) {
      throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    }
    await sleep(200);
  }
}

function freePort(): number {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken */ }
  }
}

async function main(): Promise<void> {
  await ensurePrograms(["slurmctld", "slurmd", "sbatch", "munged"], ["slurm-wlm", "munge"]);
  const work = await prepareWorkDir("grafiqs_slurm_");
  cluster.dir = work.dir;
  const cfg = join(work.dir, "slurm");
  // munged wants its socket's folders searchable by everyone and writable by none but us.
  await Deno.chmod(work.dir, 0o755);
  await Deno.mkdir(cfg);
  await Deno.chmod(cfg, 0o755);
  for (const d of ["state", "spool"]) await Deno.mkdir(join(cfg, d));
  log(`work folder ${work.dir}`);
  const failing = () => `(kept for inspection: ${work.dir})`;

  // munge: own key and socket.
  const key = join(cfg, "munge.key");
  await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(1024)), { mode: 0o600 });
  await Deno.chmod(key, 0o600);
  const socket = join(cfg, "munge.socket");
  start("munged", "munged", [
    "--foreground",
    `--key-file=${key}`,
    `--socket=${socket}`,
    `--pid-file=${join(cfg, "munged.pid")}`,
    `--log-file=${join(cfg, "munged.log")}`,
    `--seed-file=${join(cfg, "munged.seed")}`,
    "--num-threads=1",
  ], {});
  await waitFor("the munge socket", 20_000, async () => {
    try {
      await Deno.lstat(socket);
      return true;
    } catch {
      return undefined;
    }
  });

  // Slurm: one node, one partition.
  const user = (await output("id", ["-un"])).trim();
  const host = (await output("hostname", ["-s"])).trim();
  const [ctldPort, slurmdPort] = [freePort(), freePort()];
  const conf = join(cfg, "slurm.conf");
  await Deno.writeTextFile(
    conf,
    [
      `ClusterName=grafiqs`,
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      `AuthType=auth/munge`,
      `CredType=cred/munge`,
      // A requeued task may start only once its old credential expired (cred_expire + 1 s;
      // Slurm's default is 120 s); 10 s keeps the test short.
      `AuthInfo=socket=${socket},cred_expire=10`,
      `StateSaveLocation=${join(cfg, "state")}`,
      `SlurmdSpoolDir=${join(cfg, "spool")}`,
      `SlurmctldPidFile=${join(cfg, "slurmctld.pid")}`,
      `SlurmdPidFile=${join(cfg, "slurmd.pid")}`,
      `SlurmctldLogFile=${join(cfg, "slurmctld.log")}`,
      `SlurmdLogFile=${join(cfg, "slurmd.log")}`,
      `ProctrackType=proctrack/linuxproc`,
      `TaskPlugin=task/none`,
      `JobAcctGatherType=jobacct_gather/none`,
      `AccountingStorageType=accounting_storage/none`,
      `SchedulerType=sched/builtin`,
      `SelectType=select/cons_tres`,
      `SelectTypeParameters=CR_CPU`,
      `MpiDefault=none`,
      `ReturnToService=2`,
      `SlurmdParameters=config_overrides`,
      `GresTypes=gpu`,
      `NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1024 Gres=gpu:2 State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=60 State=UP`,
      ``,
    ].join("\n"),
  );
  // Two stand-in GPUs: Slurm wants a device file per GPU (a count alone is not reported), and
  // takes the GPU's index from the name's number; /dev/null is a harmless character device.
  for (const i of [0, 1]) await Deno.symlink("/dev/null", join(cfg, `gpu${i}`));
  await Deno.writeTextFile(
    join(cfg, "gres.conf"),
    `NodeName=${host} Name=gpu File=${join(cfg, "gpu")}[0-1]\n`,
  );
  const env = { ...work.env, SLURM_CONF: conf };
  cluster.env = env;
  cluster.conf = conf;
  start("slurmctld", "slurmctld", ["-D", "-f", conf], env);
  start("slurmd", "slurmd", ["-D", "-f", conf, "-N", host], env);
  await waitFor("the node to be idle", 60_000, async () => {
    try {
      const s = (await output("sinfo", ["-h", "-N", "-o", "%T"], { env })).trim();
      return s === "idle" ? true : undefined;
    } catch {
      return undefined;
    }
  });
  log(`Slurm up: node ${host}, slurmctld port ${ctldPort}, slurmd port ${slurmdPort}`);

  // The documented job.
  const sizes = await shardSizes(work, 4);
  const victim = sizes.indexOf(Math.max(...sizes));
  if (sizes[victim] <= 8) throw new Error(`shard sizes ${sizes}: none has two batches of 8`);
  await Deno.writeTextFile(join(work.dir, "grafiqs.sh"), docBlock("slurm-script"));
  const tJob = performance.now();
  const submitted = await output("sbatch", ["--parsable", "grafiqs.sh"], { cwd: work.dir, env });
  const jobId = submitted.trim().split(";")[0];
  cluster.jobId = jobId;
  log(`submitted array job ${jobId} (shard sizes ${sizes.join(", ")}); will kill task ${victim}`);
  try {
    const part = join(work.dir, "scores", `part_${victim}.tsv`);
    const kept = await waitFor(`records in ${part}`, 300_000, async () => {
      try {
        const lines = (await Deno.readTextFile(part)).split("\n").length - 2; // header, last \n
        return lines >= 1 ? lines : undefined;
      } catch {
        return undefined;
      }
    });
    const pid = Number((await Deno.readTextFile(`${part}.lock`)).trim());
    Deno.kill(pid, "SIGKILL");
    const recordsAtKill = (await Deno.readTextFile(part)).split("\n").length - 2;
    log(
      `task ${victim}: SIGKILL to grafiqs (pid ${pid}) with ${recordsAtKill} of ` +
        `${sizes[victim]} records on disk (first seen: ${kept})`,
    );
    if (recordsAtKill >= sizes[victim]) throw new Error("the task had already finished");
    const task = `${jobId}_${victim}`;
    const state = async () =>
      /JobState=(\S+)/.exec(await output("scontrol", ["show", "job", task], { env }))?.[1];
    const ended = await waitFor(`task ${task} to end`, 60_000, async () => {
      const s = await state();
      return s && !["RUNNING", "PENDING", "COMPLETING", "CONFIGURING"].includes(s) ? s : undefined;
    });
    if (ended !== "FAILED") throw new Error(`task ${task} ended ${ended}, expected FAILED`);
    await output("scontrol", ["requeue", task], { env });
    log(`task ${task} ${ended}; requeued`);
    await waitFor(`array job ${jobId} to finish`, 600_000, async () => {
      const q = (await output("squeue", ["-h", "-j", jobId, "-o", "%i %T %r"], { env })).trim();
      return q === "" ? true : undefined;
    });
    const jobSecs = (performance.now() - tJob) / 1000;
    for (let k = 0; k < 4; k++) {
      const s = /JobState=(\S+)/.exec(
        await output("scontrol", ["show", "job", `${jobId}_${k}`], { env }),
      )?.[1];
      if (s !== "COMPLETED") throw new Error(`task ${jobId}_${k} ended ${s}`);
    }
    const taskLog = await Deno.readTextFile(join(work.dir, `slurm-${jobId}_${victim}.out`));
    const resumed = `resuming scores/part_${victim}.tsv: ${recordsAtKill} records kept`;
    if (!taskLog.includes(resumed)) {
      throw new Error(`the requeued task's log lacks "${resumed}":\n${taskLog}`);
    }
    log(`array job done in ${jobSecs.toFixed(1)} s; the requeued task says "${resumed}"`);

    const tMerge = performance.now();
    await output("bash", ["-e", "-c", docBlock("slurm-merge")], { cwd: work.dir, env });
    log(`documented merge done in ${((performance.now() - tMerge) / 1000).toFixed(1)} s`);
    const folderSecs = await folderRun(work);
    log(`folder-mode run done in ${folderSecs.toFixed(1)} s`);
    const same = await compareFolders(join(work.dir, "out"), join(work.dir, "full"));
    log(`merged output equals the folder-mode run byte for byte: ${same.join(", ")}`);
  } catch (e) {
    console.error(`test:slurm FAILED: ${(e as Error).message} ${failing()}`);
    reported = true;
    for (const f of ["slurmctld.log", "slurmd.log", "munged.log"]) {
      try {
        const t = await Deno.readTextFile(join(cfg, f));
        console.error(`--- ${f} (last 30 lines)\n${t.split("\n").slice(-30).join("\n")}`);
      } catch { /* none */ }
    }
    for await (const e of Deno.readDir(work.dir)) {
      if (e.name.startsWith("slurm-")) {
        console.error(`--- ${e.name}\n${await Deno.readTextFile(join(work.dir, e.name))}`);
      }
    }
    throw e;
  }
  await cleanUp();
  await Deno.remove(work.dir, { recursive: true });
  log(`PASSED in ${secs()} s`);
}

const signals = ["SIGINT", "SIGTERM"] as const;
const onSignal = () => {
  log("interrupted: cleaning up");
  cleanUp()
    .then(() => (cluster.dir ? Deno.remove(cluster.dir, { recursive: true }) : undefined))
    .finally(() => Deno.exit(130));
};
for (const s of signals) Deno.addSignalListener(s, onSignal);
try {
  await main();
} catch (e) {
  if (!reported) console.error(`test:slurm FAILED: ${(e as Error).message}`);
  await cleanUp();
  Deno.exit(1);
}
for (const s of signals) Deno.removeSignalListener(s, onSignal);
