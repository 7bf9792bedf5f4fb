// The lesson as a student runs it: JupyterLab in a real (headless) Chromium.
//
//   node tests/browser/lab_test.mjs REPO            (kernel-setup.sh test runs it, with
//                                                    LOSSVIZ_* set to small settings)
//   LAB_NOTEBOOK=ja/exercise.ipynb ...              another notebook
//   LAB_URL=http://127.0.0.1:P LAB_TOKEN=T ...      a JupyterLab already running (started by
//                                                    `./kernel-setup.sh lab`) over REPO/notebooks
//   LAB_EXPECT="text" ...                           also require this text in the outputs
//
// Starts JupyterLab from the set-up's virtualenv on 127.0.0.1 (free port, random token) in a
// temporary copy of notebooks/, opens the notebook (the Japanese lesson by default), checks
// the kernel is "Rust (lossviz)", runs all cells from the menu, waits for the kernel, then
// checks: no error output, one loaded <img> per cell tagged `scatter` or `animation` (the
// GIF), a rendered <table> in each cell tagged `table`, and the 考察 text rendered when the
// notebook has one. Screenshots go to test-artifacts/browser/<notebook>/. Sweeps cache their
// runs in the temporary folder. JupyterLab and Chromium are stopped whatever happens.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(process.argv[2] ?? ".");
const cache = process.env.LOSSVIZ_CACHE ?? path.join(os.homedir(), ".cache", "lossviz");
const notebook = process.env.LAB_NOTEBOOK ?? "ja/loss_functions.ipynb";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = path.join(repo, "test-artifacts", "browser", notebook.replace(/\.ipynb$/, "").replace(/\//g, "-"));
// How long all cells may take: the lesson at the small settings takes a few minutes;
// LAB_RUN_TIMEOUT_S shortens it for a notebook of two cells.
const RUN_TIMEOUT_MS = Number(process.env.LAB_RUN_TIMEOUT_S ?? 20 * 60) * 1000;

function fail(message) {
  console.error(`browser test: FAILED: ${message}`);
  process.exitCode = 1;
}

function loadPlaywright() {
  const require = createRequire(path.join(cache, "node", "package.json"));
  try {
    return require("playwright-core");
  } catch {
    throw new Error(`playwright-core is not installed in ${cache}/node; run ./kernel-setup.sh test`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

// notebooks/ copied, crate/ linked beside it, so `:dep lossviz = { path = "../../crate" }`
// resolves to the same crate the set-up pre-built.
function stageNotebooks(root) {
  fs.cpSync(path.join(repo, "notebooks"), path.join(root, "notebooks"), { recursive: true });
  fs.symlinkSync(path.join(repo, "crate"), path.join(root, "crate"));
  // Cells outside the viewport stay in the DOM, so every output can be checked.
  const settings = path.join(root, "settings", "@jupyterlab", "notebook-extension");
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(path.join(settings, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
  // No "get notified about Jupyter news?" prompt over the screenshots (and no fetch to the internet).
  const apputils = path.join(root, "settings", "@jupyterlab", "apputils-extension");
  fs.mkdirSync(apputils, { recursive: true });
  fs.writeFileSync(path.join(apputils, "notification.jupyterlab-settings"), JSON.stringify({ fetchNews: "false" }));
}

async function waitForServer(url, lab, deadline) {
  while (Date.now() < deadline) {
    if (lab && lab.exitCode !== null) throw new Error(`JupyterLab exited with code ${lab.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`JupyterLab did not answer at ${url.replace(/token=.*/, "token=…")} in time`);
}

// Our own JupyterLab from the set-up's virtualenv over a temporary copy of notebooks/.
async function startLab() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "lossviz-lab-"));
  stageNotebooks(root);
  const port = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const env = { ...process.env, JUPYTER_CONFIG_DIR: path.join(root, "jupyter-config"), LOSSVIZ_RUNS: path.join(root, "runs") };
  const lab = spawn(path.join(cache, "venv", "bin", "jupyter"), [
    "lab", "--no-browser", "--ip=127.0.0.1", `--port=${port}`, `--IdentityProvider.token=${token}`,
    `--ServerApp.root_dir=${path.join(root, "notebooks")}`, `--LabApp.user_settings_dir=${path.join(root, "settings")}`,
    `--LabApp.workspaces_dir=${path.join(root, "workspaces")}`,
    ...(process.getuid() === 0 ? ["--allow-root"] : []),
  ], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const labLog = fs.createWriteStream(path.join(artifacts, "jupyterlab.log"));
  lab.stdout.pipe(labLog);
  lab.stderr.pipe(labLog);
  return { base: `http://127.0.0.1:${port}`, token, lab, root };
}

// A JupyterLab someone else started and will stop (scripts/fresh-machine.sh).
function attachToLab() {
  if (!process.env.LAB_TOKEN) throw new Error("LAB_URL is set but LAB_TOKEN is not");
  return { base: process.env.LAB_URL.replace(/\/$/, ""), token: process.env.LAB_TOKEN, lab: null, root: null };
}

async function main() {
  for (const [what, file] of [["Chromium (Debian package chromium)", chromiumPath], ["JupyterLab", path.join(cache, "venv", "bin", "jupyter")]]) {
    if (!fs.existsSync(file)) throw new Error(`${what} is missing: ${file} not found; run ./kernel-setup.sh test`);
  }
  const { chromium } = loadPlaywright();
  fs.mkdirSync(artifacts, { recursive: true });
  const { base, token, lab, root } = process.env.LAB_URL ? attachToLab() : await startLab();
  let browser;
  const stopAll = () => {
    if (lab) try { process.kill(-lab.pid, "SIGTERM"); } catch {}
  };
  process.on("exit", stopAll);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => { stopAll(); process.exit(130); });
  try {
    await waitForServer(`${base}/api/status?token=${token}`, lab, Date.now() + (lab ? 60_000 : 600_000));
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${base}/lab/tree/${notebook}?token=${token}`);
    await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 120_000 });

    const kernelName = page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName");
    await kernelName.filter({ hasText: "Rust (lossviz)" }).waitFor({ timeout: 60_000 });
    console.log(`kernel shown: ${(await kernelName.textContent()).trim()}`);
    // Run cells only once the kernel has answered and is idle: a request sent while the
    // connection is still being set up is the one race left between the page and the kernel.
    // The server answers 500 while a kernel it is starting has no `last_activity` yet
    // (jupyter_server's kernel_model): ask again for up to 30 s, then say what it answered.
    const listKernels = async () => {
      for (const by = Date.now() + 30_000; ;) {
        const response = await fetch(`${base}/api/kernels?token=${token}`);
        const body = await response.text();
        if (response.ok) return JSON.parse(body);
        if (Date.now() > by) throw new Error(`GET /api/kernels answered ${response.status}: ${body.slice(0, 300)}`);
        await page.waitForTimeout(1000);
      }
    };
    const kernelState = async () => {
      const kernels = await listKernels();
      return kernels.map((k) => `${k.name} ${k.execution_state} (${k.connections} connection${k.connections === 1 ? "" : "s"})`).join(", ");
    };
    const idleBy = Date.now() + 120_000;
    while (!/\bidle\b/.test(await kernelState()) && Date.now() < idleBy) await page.waitForTimeout(1000);
    console.log(`kernel state before running: ${await kernelState()}`);

    // Run > Run All Cells. A click that lands while the page is still settling (a
    // notification appearing, the kernel connecting) can be lost, and then no cell ever
    // starts: try again, up to three times, until some cell shows [*] or [n].
    const anyCellStarted = () => page.evaluate(() =>
      [...document.querySelectorAll(".jp-CodeCell .jp-InputArea-prompt")].some((p) => /\[(\*|\d+)\]/.test(p.textContent)));
    const runAll = async () => {
      for (let attempt = 1; ; attempt++) {
        await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
        await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !(await anyCellStarted())) await page.waitForTimeout(1000);
        if (await anyCellStarted()) return;
        if (attempt === 3) throw new Error("Run All Cells started no cell in three tries");
        console.log(`Run All Cells started no cell within 30 s; trying again (${attempt + 1} of 3)`);
        await page.keyboard.press("Escape");
      }
    };
    // evcxr 0.22 on zeromq 0.6 now and then never started the first request it received: the
    // cell stayed queued and the kernel published nothing (issue 23; the set-up now builds it
    // on zeromq 0.7).
    // The server's own execution_state cannot tell (it says busy as soon as a request is
    // sent), so listen to the kernel's iopub channel: no "busy" in 60 s is the stall. The
    // student's cure, Kernel > Restart, is then applied once, and said.
    const [kernel] = await listKernels();
    await page.evaluate(({ url }) => {
      window.kernelPublishedBusy = false;
      const ws = new WebSocket(url);
      ws.onmessage = (event) => {
        const msg = JSON.parse(event.data);
        if (msg.channel === "iopub" && msg.header.msg_type === "status" && msg.content.execution_state === "busy") window.kernelPublishedBusy = true;
      };
    }, { url: `${base.replace(/^http/, "ws")}/api/kernels/${kernel.id}/channels?token=${token}` });
    await runAll();
    const busyBy = Date.now() + 60_000;
    while (Date.now() < busyBy && !(await page.evaluate(() => window.kernelPublishedBusy))) await page.waitForTimeout(1000);
    if (!(await page.evaluate(() => window.kernelPublishedBusy))) {
      console.log("the kernel published nothing for 60 s with its first cell queued (evcxr's start-up stall): restarting it once");
      await fetch(`${base}/api/kernels/${kernel.id}/restart?token=${token}`, { method: "POST" });
      const idleBy = Date.now() + 120_000;
      do await page.waitForTimeout(1000); while (!/\bidle\b/.test(await kernelState()) && Date.now() < idleBy);
      console.log(`kernel state after the restart: ${await kernelState()}`);
      // The rest still runs, so the log shows whether the restart cured it; the test fails
      // anyway: with zeromq 0.7 under evcxr no start stalled in hundreds (BENCHMARKS.md).
      fail("the kernel needed a restart before its first cell started (evcxr's start-up stall, issue 23)");
      await runAll();
    }
    const started = Date.now();
    // Done when every code cell shows an execution count and none is queued or running.
    const source = JSON.parse(fs.readFileSync(path.join(repo, "notebooks", notebook), "utf8"));
    const codeCells = source.cells.filter((c) => c.cell_type === "code").length;
    try {
      await page.waitForFunction((n) => {
        const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputArea-prompt")].map((p) => p.textContent);
        return prompts.filter((t) => /\[\d+\]/.test(t)).length === n && !prompts.some((t) => t.includes("*"));
      }, codeCells, { timeout: RUN_TIMEOUT_MS, polling: 1000 });
    } catch (e) {
      // What a person would look at: the prompts, the outputs so far, the kernel's state.
      const prompts = await page.locator(".jp-CodeCell .jp-InputArea-prompt").allTextContents();
      const outputs = (await page.locator(".jp-OutputArea-output").allTextContents()).join("\n").slice(-3000);
      await page.screenshot({ path: path.join(artifacts, "timeout.png"), fullPage: true }).catch(() => {});
      throw new Error(`cells not done after ${RUN_TIMEOUT_MS / 1000} s: prompts ${JSON.stringify(prompts)}; ` +
        `kernel ${await kernelState().catch((k) => `unknown (${k})`)}; outputs so far:\n${outputs}\n(screenshot: ${artifacts}/timeout.png)`);
    }
    console.log(`all ${codeCells} code cells ran in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const expected = process.env.LAB_EXPECT;
    if (expected) {
      const outputs = (await page.locator(".jp-OutputArea-output").allTextContents()).join("\n");
      if (!outputs.includes(expected)) fail(`no output shows "${expected}"; the outputs were:\n${outputs.slice(0, 4000)}`);
      else console.log(`output shows "${expected}"`);
    }
    const errorTexts = await page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").allTextContents();
    if (errorTexts.length > 0) fail(`error outputs in the page:\n${errorTexts.join("\n---\n").slice(0, 4000)}`);

    const all = page.locator(".jp-Notebook .jp-Cell");
    const tagged = (tag) => source.cells.map((c, i) => [c, i]).filter(([c]) => (c.metadata.tags ?? []).includes(tag)).map(([, i]) => i);
    const imageIndices = [...tagged("scatter"), ...tagged("animation")].sort((a, b) => a - b);
    if ((await all.count()) !== source.cells.length) fail(`the page shows ${await all.count()} cells, the notebook has ${source.cells.length}`);
    const shots = [];
    for (const [n, index] of imageIndices.entries()) {
      const imgs = all.nth(index).locator(".jp-OutputArea-output img");
      const count = await imgs.count();
      if (count !== 1) { fail(`image cell ${index} shows ${count} images, expected 1`); continue; }
      const size = await imgs.first().evaluate((img) => [img.naturalWidth, img.naturalHeight]);
      if (!(size[0] > 0 && size[1] > 0)) { fail(`image cell ${index}: image did not load (${size})`); continue; }
      await imgs.first().scrollIntoViewIfNeeded();
      const file = path.join(artifacts, `image-${n + 1}-cell-${index}.png`);
      await imgs.first().screenshot({ path: file });
      shots.push(`${file} (${size[0]}x${size[1]})`);
    }
    for (const index of tagged("table")) {
      const rows = await all.nth(index).locator(".jp-OutputArea-output table tbody tr").count();
      if (rows === 0) fail(`table cell ${index} shows no rendered HTML table`);
    }
    const wantKosatsu = source.cells.some((c) => c.cell_type === "markdown" && [].concat(c.source).join("").includes("考察"));
    const kosatsu = await page.locator(".jp-MarkdownCell .jp-RenderedMarkdown", { hasText: "考察" }).count();
    if (wantKosatsu && kosatsu === 0) fail("no rendered markdown cell mentions 考察");
    const full = path.join(artifacts, "notebook-page.png");
    await page.screenshot({ path: full, fullPage: true });
    shots.push(full);
    console.log(`${notebook}: ${imageIndices.length} images, ${tagged("table").length} tables, rendered 考察 cells: ${kosatsu}\nscreenshots:\n  ${shots.join("\n  ")}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    stopAll();
    if (root) {
      await new Promise((r) => setTimeout(r, 1000));
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  if (!process.exitCode) console.log("browser test: ok");
}

main().catch((e) => { fail(e.message); });
