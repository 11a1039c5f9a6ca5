// JupyterLab's own "Run All Cells", clicked in a real (headless) Chromium, for each notebook.
// usage: node browser_run_all.js PORT NOTEBOOK...   (run by scripts/browser_run_all.py)
// Prints one JSON line per notebook: code cells, cells executed, error outputs, kernel status,
// whether the reference-run note shows at the top, stderr outputs (and how many look like text
// progress bars), progress widgets; with SHOTS=dir it saves screenshots (top, a progress bar, an exercise).
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
    const shots = process.env.SHOTS;
    const stem = nb.replace(/\.ipynb$/, '');
    const note = await page.evaluate(() => {
      const first = document.querySelector('.jp-Notebook .jp-MarkdownCell .jp-RenderedMarkdown');
      return !!first && first.innerText.includes('Whose numbers are these?');
    });
    if (shots) await page.screenshot({ path: `${shots}/${stem}-top.png` });
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
        let errors = 0, verdicts = 0, stderr = 0, textBars = 0, widgets = 0;
        for (const c of cells) for (let j = 0; j < c.outputs.length; j++) {
          const o = c.outputs.get(j).toJSON();
          if (o.output_type === 'error') errors++;
          const txt = o.text ? [].concat(o.text).join('') : '';
          verdicts += (txt.match(/Verdict/g) || []).length;
          if (o.output_type === 'stream' && o.name === 'stderr') { stderr++; if (/\d+%\|/.test(txt)) textBars++; }
          if (o.data && o.data['application/vnd.jupyter.widget-view+json']) widgets++;
        }
        const status = panel.sessionContext.session && panel.sessionContext.session.kernel ? panel.sessionContext.session.kernel.status : 'none';
        return { total: cells.length, done: counts.filter(n => n !== null && n !== undefined).length, last: counts[counts.length - 1], errors, verdicts, stderr, textBars, widgets, status };
      });
      if (state.status === 'idle' && state.done === state.total) break;
      if (state.done !== lastDone) { lastDone = state.done; lastChange = i; }
      if (i - lastChange >= 60) { state.stalled = true; break; }   // no cell finished for a minute
    }
    if (shots) {   // a progress widget, then the first exercise cell, scrolled into view
      for (const [sel, name] of [['.jp-OutputArea-output .widget-progress, .jp-OutputArea-output .jupyter-widgets', 'progress'],
                                 ['.jp-CodeCell', 'exercise']]) {
        const found = await page.evaluate(([sel, name]) => {
          const panel = window.jupyterapp.shell.currentWidget;
          const cells = panel.content.widgets;
          for (let k = 0; k < cells.length; k++) {
            const src = cells[k].model.sharedModel.getSource();
            let widget = false;   // a cell that drew a progress widget, whoever made it (a cell or a helper)
            const outs = cells[k].model.outputs;
            for (let j = 0; outs && j < outs.length; j++) {
              const d = outs.get(j).toJSON().data;
              if (d && d['application/vnd.jupyter.widget-view+json']) widget = true;
            }
            const hit = name === 'exercise' ? src.includes('my_answer = None') : widget;
            if (hit) { panel.content.activeCellIndex = k; panel.content.scrollToItem(k, 'start'); return true; }
          }
          return false;
        }, [sel, name]);
        if (found) { await page.waitForTimeout(800); await page.screenshot({ path: `${shots}/${stem}-${name}.png` }); }
      }
    }
    console.log(JSON.stringify({ notebook: nb, seconds: (Date.now() - t0) / 1000, note, ...state }));
    await page.evaluate(() => { window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }).catch(() => {});
    await page.waitForTimeout(1500);
    await page.close();
  }
  await browser.close();
})();
