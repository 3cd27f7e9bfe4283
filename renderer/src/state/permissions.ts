/**
 * Who may delete a room, as the administrator node decides it (main/node/deletion-driver.ts): the
 * user who created it, on the node it created it from (a user is a name on a node: the same name on
 * another node is another person, client-protocol.md section 7). A node's default room (created by
 * `system`) is not deletable. The UI only offers what the node would allow; the node still has the
 * last word (a refusal comes back as `forbidden`).
 */
import { SYSTEM_USER, type RoomInfo } from '../../../proto/client-protocol'

/** The creator recorded for a node's default room ("<node> lobby"). */
export const SYSTEM_CREATOR = SYSTEM_USER

export function canDeleteRoom(room: Pick<RoomInfo, 'createdBy'>, self: { user: string; nodeId: string } | null): boolean {
  if (!self) return false
  // Exactly the node's rule, so the button never promises more (or less) than the node allows.
  if (room.createdBy.user === SYSTEM_CREATOR) return false
  return room.createdBy.user === self.user && room.createdBy.nodeId === self.nodeId
}
