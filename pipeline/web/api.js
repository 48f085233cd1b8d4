// Talking to the server: every number the page shows comes from PyTorch there
// (pipeline/serve.py answers; pipeline/answers.py and slides.py compute).

export const $ = (id) => document.getElementById(id);

export async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
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
