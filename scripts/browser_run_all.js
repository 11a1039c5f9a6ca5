// JupyterLab's own "Run All Cells", clicked in a real (headless) Chromium, for each notebook.
// usage: node browser_run_all.js PORT NOTEBOOK...   (run by scripts/browser_run_all.py)
// Prints one JSON line per notebook: code cells, cells executed, error outputs, kernel status.
const { chromium } = require('playwright-core');
(async () => {
  const port = process.argv[2];
  const nbs = process.argv.slice(3);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  for (const nb of nbs) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });   // one page per notebook
    await page.goto(`http://127.0.0.1:${port}/lab/tree/${nb}?reset`);   // ?reset: no tabs restored from the last page
    await page.waitForFunction(() => window.jupyterapp && document.querySelector('.jp-Notebook'), null, { timeout: 60000 });
    // wait until this notebook's kernel has started and is idle
    await page.waitForFunction((name) => {
      const p = window.jupyterapp.shell.currentWidget;
      const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;
      return k && k.status === 'idle' && p.context && p.context.path === name
        && p.content.model && p.content.model.cells.length > 0;
    }, nb, { timeout: 120000 });
    await page.waitForTimeout(500);
    const t0 = Date.now();
    await page.evaluate(() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); });   // do not wait for it: a stuck kernel never finishes
    let state;
    let lastDone = -1, lastChange = 0;
    for (let i = 0; i < 240; i++) {   // at most 4 minutes per notebook
      await page.waitForTimeout(1000);
      state = await page.evaluate(() => {
        const panel = window.jupyterapp.shell.currentWidget;
        const model = panel.content.model;
        const cells = [];
        for (let k = 0; k < model.cells.length; k++) { const c = model.cells.get(k); if (c.type === 'code' && c.sharedModel.getSource().trim()) cells.push(c); }
        const counts = cells.map(c => c.executionCount);
        let errors = 0, verdicts = 0;
        for (const c of cells) for (let j = 0; j < c.outputs.length; j++) {
          const o = c.outputs.get(j).toJSON();
          if (o.output_type === 'error') errors++;
          const txt = o.text ? [].concat(o.text).join('') : '';
          verdicts += (txt.match(/Verdict/g) || []).length;
        }
        const status = panel.sessionContext.session && panel.sessionContext.session.kernel ? panel.sessionContext.session.kernel.status : 'none';
        return { total: cells.length, done: counts.filter(n => n !== null && n !== undefined).length, last: counts[counts.length - 1], errors, verdicts, status };
      });
      if (state.status === 'idle' && state.done === state.total) break;
      if (state.done !== lastDone) { lastDone = state.done; lastChange = i; }
      if (i - lastChange >= 60) { state.stalled = true; break; }   // no cell finished for a minute
    }
    console.log(JSON.stringify({ notebook: nb, seconds: (Date.now() - t0) / 1000, ...state }));
    await page.evaluate(() => { window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }).catch(() => {});
    await page.waitForTimeout(1500);
    await page.close();
  }
  await browser.close();
})();
