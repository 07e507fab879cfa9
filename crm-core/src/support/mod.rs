//! Support: tickets, their thread, and SLA clocks in business time.
//!
//! - [`ticket`]: a ticket, its statuses and the moves allowed between them, its messages.
//! - [`calendar`]: working hours in an IANA time zone, holidays as data; business time.
//! - [`holidays`]: Türkiye's public holidays, the example calendar.
//! - [`sla`]: the SLA policy (targets per priority) and each ticket's clocks and status.
//! - [`filter`]: the ticket filter.
//! - [`report`]: the support report's figures.

pub mod calendar;
pub mod filter;
pub mod holidays;
pub mod report;
pub mod sla;
pub mod ticket;

pub use calendar::{BusinessCalendar, Holiday, WorkingHours};
pub use sla::{Clock, PriorityTargets, SlaPolicy, SlaStatus, TargetClock, TicketSla};
pub use ticket::{
    Move, MoveRefused, Priority, Ticket, TicketData, TicketId, TicketMessage, TicketStatus,
};
