/**
 * Who may delete a room, as the administrator node decides it (main/node/deletion-driver.ts): the
 * user who created it, or, for a node's default room (created by 'system'), any user connected to
 * that room's own administrator node. The UI only offers what the node would allow; the node still
 * has the last word (a refusal comes back as `forbidden`).
 */
import type { RoomInfo } from '../../../proto/client-protocol'

/** The creator recorded for a node's default room ("<node> lobby"). */
export const SYSTEM_CREATOR = 'system'

export function canDeleteRoom(
  room: Pick<RoomInfo, 'createdBy' | 'adminNodeId'>,
  self: { user: string; nodeId: string } | null,
): boolean {
  if (!self) return false
  // A node too old to say who created the room: offer it and let the node decide.
  if (!room.createdBy) return true
  // Exactly the node's rule, so the button never promises more (or less) than the node allows.
  return room.createdBy === self.user || (room.createdBy === SYSTEM_CREATOR && room.adminNodeId === self.nodeId)
}
