import { useQuery } from "@tanstack/react-query";
import { api, isTerminal, unwrap, type StatusName } from "../../api/client";

export function useDocument(id: string) {
  return useQuery({
    queryKey: ["document", id],
    queryFn: async () => unwrap(await api.GET("/documents/{document_id}", { params: { path: { document_id: id } } })),
    refetchInterval: (q) => (q.state.data && !isTerminal(q.state.data.status as StatusName) ? 2000 : false),
  });
}

/** The OCR words; read again when the document's status moves on (the OCR stage adds them). */
export function useOcr(id: string, enabled: boolean, status?: string) {
  return useQuery({
    queryKey: ["ocr", id, status],
    queryFn: async () => unwrap(await api.GET("/documents/{document_id}/ocr", { params: { path: { document_id: id } } })),
    enabled,
    staleTime: 60_000,
  });
}

export const fieldLabel = (name: string) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
