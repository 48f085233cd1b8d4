// The page in a notebook cell (pipeline/notebook.py, an anywidget): the same files as
// --serve's page, its answers from the notebook's kernel instead of HTTP. anywidget loads this
// one module; the page's files come in the widget's `_files`, each JavaScript module made
// importable from a blob: URL with its "./name.js" imports pointed at the others' URLs (no
// bundler, no build step), and the style scoped to the widget by CSS nesting.

function render({ model, el }) {
  const files = model.get("_files");
  const root = Object.assign(document.createElement("div"), { className: "lecture10-page" });
  const style = document.createElement("style");  // the page's body rules are the widget's box
  style.textContent = `.lecture10-page { ${files["style.css"].replace(/^body \{/m, "& {")} }`;
  const body = new DOMParser().parseFromString(files["index.html"], "text/html").body;
  root.append(style, ...[...body.children].filter((e) => e.tagName !== "SCRIPT"));
  for (const home of root.querySelectorAll(".home")) home.textContent = "in this notebook's kernel";
  // The notebook's own handlers stay out of the page: a press in it is not the start of a
  // selection of cells, which would follow every later move of the pen across the notebook.
  for (const type of ["mousedown", "pointerdown"]) root.addEventListener(type, (event) => event.stopPropagation());
  el.replaceChildren(root);
  const kernel = kernelSide(model);
  const modules = importable(files);
  Promise.all([import(modules.url("api.js")), import(modules.url("page.js"))]).then(([api, page]) => {
    page.initPage(api.pageState(root, kernel.ask, kernel.listen, "in the kernel"), model.get("_live"));
    modules.revoke();
  });
  return kernel.close;
}

// Each module's blob: URL, its imports pointing at the others' (made once each, so that every
// importer shares one instance of a module).
function importable(files) {
  const urls = new Map();
  const url = (name) => {
    if (!urls.has(name)) {
      const source = files[name].replace(/from "\.\/([\w-]+\.js)"/g, (_, dep) => `from "${url(dep)}"`);
      urls.set(name, URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    }
    return urls.get(name);
  };
  return { url, revoke: () => urls.forEach((u) => URL.revokeObjectURL(u)) };
}

// The page's `ask` and `listen` through the widget's messages: an ask is answered by the
// kernel's Page.reply (the server's own answers); a listen gets the events pushed so far, then
// each new one (numbered, so that each is drawn once, in order). Every view of the widget gets every
// message: a view's own ids start with its own name.
function kernelSide(model) {
  const me = Math.random().toString(36).slice(2);
  let next = 0;
  const waiting = new Map(), listeners = new Set();
  const onMessage = (message) => {
    if (message.kind === "answer" && waiting.has(message.id)) {
      const { resolve, reject } = waiting.get(message.id);
      waiting.delete(message.id);
      if ("error" in message) reject(new Error(message.error));
      else resolve(message.answer);
    } else if (message.kind === "event") {
      for (const listener of listeners) if (listener.path === message.path) listener.take(message.n, message.event);
    }
  };
  model.on("msg:custom", onMessage);
  const send = (kind, path, body) => new Promise((resolve, reject) => {
    const id = `${me}:${next++}`;
    waiting.set(id, { resolve, reject });
    model.send({ kind, id, path, body: body === undefined ? null : body });
  });
  const listen = (path, onEvent) => {
    // Drawn in order as they come: events n = 0, 1, ... (a view that opened before the first
    // one needs no history, and gets it only once the kernel is free); one that comes after
    // a gap waits for the history, which fills the gap.
    let seen = 0;
    const later = new Map();
    const take = (n, event) => {
      if (n < seen) return;
      later.set(n, event);
      while (later.has(seen)) { onEvent(later.get(seen)); later.delete(seen++); }
    };
    const listener = { path, take };
    listeners.add(listener);
    send("listen", path).then((history) => history.forEach((event, n) => take(n, event)));
    return () => listeners.delete(listener);
  };
  const close = () => model.off("msg:custom", onMessage);
  return { ask: (path, body) => send("ask", path, body), listen, close };
}

export default { render };
