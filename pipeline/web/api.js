// Where the page's answers come from, and the one object its modules share.
//
// Every number the page shows comes from PyTorch: here from the server (pipeline/serve.py
// answers; pipeline/answers.py and slides.py compute). The pad and the panels never ask the
// server themselves: they call `page.ask(path, body)`, so another home of the page (a
// notebook kernel, the browser itself) hands them another `ask`.

export async function serverAsk(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

// Events pushed as they happen (the run as it trains): each one's JSON to `onEvent`; a lost
// connection to `onError` (the browser tries again). Returns what closes it.
export function serverListen(path, onEvent, onError) {
  const source = new EventSource(path);
  source.onmessage = (message) => onEvent(JSON.parse(message.data));
  source.onerror = onError;
  return () => source.close();
}

// The page's state: made once (app.js) and handed to each module's init. `root` holds the
// page's elements; `ask` and `listen` are where answers and events come from; the rest is
// what the modules share, each field written by one module. What one module asks of another
// goes through `on`: the module that does it registers it at its init. `where`: where PyTorch
// answers, in the page's words.
export function pageState(root, ask, listen, where = "on the server") {
  return {
    $: (id) => root.querySelector(`#${id}`),
    ask,
    listen,
    where,  // where PyTorch answers, as the page words it
    picture: null,  // the picture last sent to be read (the pad's, or a dropped file): pad.js
    training: false,  // the network trains as the page watches: live.js
    on: {
      show: () => {},  // an answer of /api/predict, drawn at the next frame: answer.js
      clear: () => {},  // the answer panels emptied: answer.js
      readAgain: () => {},  // the drawing read again: pad.js
      strokeEnded: () => {},  // what follows a stroke's answer: tolerate.js
      info: () => {},  // the network described again: app.js
    },
  };
}

// The latest request wins: one request at a time; asked again while one runs, it runs once
// more when that one ends, with whatever is the latest then. `ask` reads the page's state
// when it runs, so nothing waits with a stale picture or setting.
export function latest(ask) {
  let inFlight = false, again = false;
  return async function request() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    again = false;
    try {
      await ask();
    } finally {
      inFlight = false;
      if (again) request();
    }
  };
}
