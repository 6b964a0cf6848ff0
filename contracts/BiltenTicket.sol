// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Bilten event ticket
/// @notice One token per sold ticket. Only the platform (the owner) mints, because a ticket exists on-chain
/// only after checkout has been paid for off-chain.
contract BiltenTicket is ERC721URIStorage, Ownable {
    /// @param platform The account allowed to mint; the deployer passes its own address in the usual setup.
    constructor(address platform) ERC721("Bilten Ticket", "BILTEN") Ownable(platform) {}

    /// @notice Mints `tokenId` to `to` with its metadata URI.
    /// @dev The caller chooses the id (it is derived from the ticket id), so the id is the idempotency key:
    /// minting an id that exists reverts with ERC721InvalidSender(address(0)). `_mint` rather than `_safeMint`
    /// so a recipient contract can neither re-enter nor block the platform's mint.
    function mint(address to, uint256 tokenId, string calldata uri) external onlyOwner {
        _mint(to, tokenId);
        _setTokenURI(tokenId, uri);
    }
}
