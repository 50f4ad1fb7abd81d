// The frontend of layerlab.workbench.plotview.PlotlyView (an anywidget module).
//
// One plotly.js serves every view of the page: the first view asks its kernel
// for the library (the plotly.min.js of the kernel's plotly package) once,
// so nothing is fetched from a network.  Each view keeps one plot div and
// redraws it with Plotly.react when the figure changes: plotly.js updates the
// boxes in place instead of building a new plot, and draws once per change.

const LIBRARY = Symbol.for("layerlab.plotly.js");

function library(model) {
  if (!globalThis[LIBRARY]) {
    globalThis[LIBRARY] = new Promise((resolve, reject) => {
      const receive = (msg, buffers) => {
        if (!msg || msg.kind !== "plotly.js") return;
        model.off("msg:custom", receive);
        try {
          const source = new TextDecoder().decode(buffers[0]);
          const mod = { exports: {} };
          new Function("module", "exports", source)(mod, mod.exports);
          resolve(mod.exports);
        } catch (err) {
          globalThis[LIBRARY] = undefined;
          reject(err);
        }
      };
      model.on("msg:custom", receive);
      model.send({ kind: "plotly.js" });
    });
  }
  return globalThis[LIBRARY];
}

async function render({ model, el }) {
  const Plotly = await library(model);
  const gd = document.createElement("div");
  el.appendChild(gd);
  let queue = Promise.resolve();
  let draws = 0;
  const draw = () => {
    queue = queue
      .then(() => {
        const fig = model.get("figure") || {};
        return Plotly.react(gd, fig.data || [], fig.layout || {}, fig.config || {});
      })
      .then(() => {
        draws += 1;
        el.dataset.draws = String(draws); // a test or benchmark waits on this
      })
      .catch((err) => console.error("layerlab plot:", err));
  };
  model.on("change:figure", draw);
  draw();
  // Follow the width of the notebook (plotly.js only listens to the window).
  let width = 0;
  const resized = new ResizeObserver(() => {
    if (el.clientWidth > 0 && el.clientWidth !== width) {
      width = el.clientWidth;
      queue = queue.then(() => Plotly.Plots.resize(gd)).catch(() => {});
    }
  });
  resized.observe(el);
  return () => {
    model.off("change:figure", draw);
    resized.disconnect();
    Plotly.purge(gd);
  };
}

export default { render };
