import { useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect } from "react";
import { Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { api, setUnauthorizedHandler } from "./api/client";
import { clearSession } from "./features/auth/session";
import { SignIn } from "./features/auth/SignIn";
import { useSession } from "./features/auth/useSession";

// The sign-in screen is the first one: everything behind it loads on demand (bundle budget).
const UploadScreen = lazy(() => import("./features/upload/UploadScreen"));
const DocumentsScreen = lazy(() => import("./features/documents/DocumentsScreen"));
const DocumentScreen = lazy(() => import("./features/documents/DocumentScreen"));
const ReviewQueue = lazy(() => import("./features/review/ReviewQueue"));
const ReviewScreen = lazy(() => import("./features/review/ReviewScreen"));
const MailboxesScreen = lazy(() => import("./features/mailboxes/MailboxesScreen"));

function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (!session) return <Navigate to="/app/login" replace state={{ from: location.pathname + location.search }} />;
  return <Layout email={session.email} />;
}

function Layout({ email }: { email: string }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  async function logout() {
    await api.POST("/auth/logout").catch(() => undefined); // revoke the token server-side
    clearSession();
    queryClient.clear();
    navigate("/app/login");
  }
  return (
    <div className="shell">
      <a href="#main" className="skip">Skip to content</a>
      <header className="topbar">
        <span className="brand">Invoice Scanner</span>
        <nav aria-label="Main">
          <NavLink to="/app/upload">Upload</NavLink>
          <NavLink to="/app/documents" end={false}>Documents</NavLink>
          <NavLink to="/app/review">Review</NavLink>
          <NavLink to="/app/mailboxes">Mailboxes</NavLink>
        </nav>
        <span className="who">{email}</span>
        <button type="button" onClick={logout}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

export function App() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      queryClient.clear();
      navigate("/app/login", { replace: true });
    });
  }, [navigate, queryClient]);
  return (
    <Routes>
      <Route path="/app/login" element={<SignIn />} />
      <Route element={<RequireSession />}>
        <Route path="/app/upload" element={<UploadScreen />} />
        <Route path="/app/documents" element={<DocumentsScreen />} />
        <Route path="/app/documents/:id" element={<DocumentScreen />} />
        <Route path="/app/review" element={<ReviewQueue />} />
        <Route path="/app/review/:id" element={<ReviewScreen />} />
        <Route path="/app/mailboxes" element={<MailboxesScreen />} />
      </Route>
      <Route path="*" element={<Navigate to="/app/documents" replace />} />
    </Routes>
  );
}
