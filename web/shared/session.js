// Which session work belongs to (DESIGN.md §11). A chart still being fetched or decrypted when
// the session locks must not be drawn afterwards: work takes a token before it waits and draws
// only while the token is live. login.js announces the end of a session with `ehr-session-end`.
let current = 0;
document.addEventListener("ehr-session-end", () => { current += 1; });

export const sessionToken = () => current;
export const sessionLive = (token) => token === current;
