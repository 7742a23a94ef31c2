import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { api, ApiFailure, unwrap } from "../../api/client";
import { saveSession } from "./session";

export function SignIn() {
  const navigate = useNavigate();
  const location = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const token = unwrap(await api.POST("/auth/login", { body: { email, password } }));
      saveSession({ token: token.access_token, email, expiresAt: Date.now() + token.expires_in * 1000 });
      const back = (location.state as { from?: string } | null)?.from;
      navigate(back && back.startsWith("/app/") ? back : "/app/upload", { replace: true });
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) setError("Wrong email or password.");
      else if (err instanceof ApiFailure && err.status === 429)
        setError("Too many sign-in attempts: wait a minute and try again.");
      else setError(err instanceof Error ? err.message : "Sign-in failed.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form onSubmit={submit} className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">Invoice Scanner</h1>
        <p className="muted">Sign in with your company account.</p>
        <label htmlFor="email">Email</label>
        <input id="email" type="email" autoComplete="username" required value={email}
          onChange={(e) => setEmail(e.target.value)} autoFocus />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" required value={password}
          onChange={(e) => setPassword(e.target.value)} />
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}
