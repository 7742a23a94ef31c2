import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { mockFetch } from "../../test/http";
import { renderWithProviders } from "../../test/render";
import { readSession } from "./session";
import { SignIn } from "./SignIn";
import { useSession } from "./useSession";

function Upload() {
  const s = useSession();
  return <p>{s ? `signed in as ${s.email}` : "no session"}</p>;
}

describe("SignIn", () => {
  it("keeps the token for the session and opens the upload screen", async () => {
    const { calls } = mockFetch({
      "POST /auth/login": async (req) => {
        const body = await req.json();
        return body.password === "right"
          ? { body: { access_token: "tok-9", token_type: "Bearer", expires_in: 3600 } }
          : { status: 401, body: { code: 401, message: "Wrong email or password" } };
      },
    });
    const user = userEvent.setup();
    renderWithProviders(<Routes><Route path="/app/login" element={<SignIn />} /><Route path="/app/upload" element={<Upload />} /></Routes>, "/app/login");
    await user.type(screen.getByLabelText("Email"), "ap@acme.test");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email or password.");
    await user.clear(screen.getByLabelText("Password"));
    await user.type(screen.getByLabelText("Password"), "right");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("signed in as ap@acme.test")).toBeInTheDocument();
    expect(readSession()?.token).toBe("tok-9");
    expect(calls.every((c) => !c.path.includes("tok-9") && !c.path.includes("right"))).toBe(true);
  });
});
